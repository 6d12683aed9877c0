//go:build linux || darwin

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Segments are files in one directory here (see segmentDir), so ls can
// enumerate them and read their headers with plain reads, without mapping
// anything; the same read-only descriptor asks the kernel about the
// liveness locks its participants hold on the file (live.Probe).

// listSegments returns every file of the segment directory that starts
// with an shmx header magic, valid or not (s.err says).
func listSegments() ([]*segment, error) {
	dir, _ := segmentDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no segment was ever made here (macOS: /tmp/shmx)
	}
	if err != nil {
		return nil, err
	}
	var segs []*segment
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		s, err := readSegmentFile(filepath.Join(dir, e.Name()), e.Name())
		if err != nil || !isShmx(s.prefix) {
			continue // vanished, unreadable (another user's), or not ours
		}
		segs = append(segs, s)
	}
	return segs, nil
}

// readSegment reads the segment named osid.
func readSegment(osid string) (*segment, error) {
	dir, _ := segmentDir()
	return readSegmentFile(filepath.Join(dir, osid), osid)
}

// readSegmentFile reads the prefix of one segment file: the first 128
// bytes, then up to the data offset they name. O_NOFOLLOW and O_NONBLOCK
// keep a symlink or FIFO planted in a shared directory from redirecting or
// blocking us.
func readSegmentFile(path, osid string) (*segment, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: path, Err: errNotRegular}
	}
	first, err := readAt(f, min(fi.Size(), hdrSize))
	if err != nil {
		return nil, err
	}
	if !isShmx(first) {
		return &segment{osid: osid, size: fi.Size(), prefix: first,
			err: fmt.Errorf("%s: not an shmx segment (no header magic)", path)}, nil
	}
	prefix, err := readAt(f, int64(prefixLen(first, fi.Size())))
	if err != nil {
		return nil, err
	}
	s := newSegment(osid, fi.Size(), prefix)
	s.mtime = fi.ModTime()
	s.probe(uintptr(fd)) // f keeps fd open until we return
	return s, nil
}

// readAt reads the first n bytes of f.
func readAt(f *os.File, n int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := f.ReadAt(b, 0)
	if errors.Is(err, io.EOF) {
		err = nil // the file shrank: parse what is there
	}
	return b[:m], err
}
