//go:build !linux && !darwin

package main

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/shmx/shmx/memfile"
)

// Windows sections and FreeBSD's POSIX shm objects have names but no
// directory to list: the OS offers no way to enumerate them by name
// prefix (FreeBSD's kern.ipc.posix_shm_list sysctl is not wrapped by
// x/sys). Segments are still readable by name, by mapping them read-only.

var errNoList = fmt.Errorf("segments cannot be enumerated on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func segmentDir() (string, error) { return "", errNoList }

func listSegments() ([]*segment, error) { return nil, errNoList }

// readSegment maps the segment read-only and copies its prefix.
func readSegment(osid string) (*segment, error) {
	f, err := memfile.OpenRaw(osid, memfile.WithReadOnly())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := f.Bytes()
	first := b[:min(len(b), hdrSize)]
	return newSegment(osid, int64(len(b)), append([]byte(nil), b[:prefixLen(first, int64(len(b)))]...)), nil
}
