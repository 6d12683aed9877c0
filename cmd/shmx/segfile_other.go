//go:build !linux && !darwin

package main

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/shmx/shmx/shm"
)

// Windows sections and FreeBSD's POSIX shm objects have names but no
// directory to list: the OS offers no way to enumerate them by name
// prefix (FreeBSD's kern.ipc.posix_shm_list sysctl is not wrapped by
// x/sys). Segments are still readable by name, by mapping them read-only.

var errNoList = fmt.Errorf("segments cannot be enumerated on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func segmentDir() (string, error) { return "", errNoList }

func listSegments() ([]*segment, error) { return nil, errNoList }

// readSegment maps the segment read-only with package shm (not memfile,
// which would join the segment's liveness domain), copies its prefix and
// asks about the liveness of the processes it names through the
// segment's descriptor.
func readSegment(osid string) (*segment, error) {
	seg, err := shm.Open(osid, shm.WithReadOnly())
	if err != nil {
		return nil, err
	}
	defer seg.Close()
	b := seg.Bytes()
	first := b[:min(len(b), hdrSize)]
	s := newSegment(osid, int64(len(b)), append([]byte(nil), b[:prefixLen(first, int64(len(b)))]...))
	s.probe(seg.Fd())
	return s, nil
}
