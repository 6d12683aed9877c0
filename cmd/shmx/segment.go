package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/shmx/shmx/memfile"
)

// A segment is what ls, info and rm learn about one shmx segment without
// mapping it: its OS name, its size, and a snapshot of the bytes before
// its user data (header, lock, events).
type segment struct {
	osid   string
	size   int64
	prefix []byte             // header, lock and events, copied once
	hdr    memfile.HeaderInfo // valid when err == nil
	err    error              // why the prefix is not a valid header
	mtime  time.Time          // last modification, zero if unknown
}

// hdrSize is the size of the fixed header at the start of every segment
// (memfile.HeaderInfo.HeaderSize): the first bytes read of a segment.
const hdrSize = 128

// segMagic starts every header; anything else is not an shmx segment.
var segMagic = []byte("SHMXFILE")

// prefixLen says how many bytes of a segment of total bytes to read: the
// header, lock and events before its data, as the header in first (its
// first hdrSize bytes) lays them out; just first when that is no valid
// header (newSegment parses it again and keeps the reason).
func prefixLen(first []byte, total int64) int {
	h, err := memfile.ParseHeaderPrefix(first, total)
	if err != nil {
		return len(first)
	}
	return max(h.DataOffset, len(first)) // DataOffset <= total: checked
}

// newSegment parses a prefix read by the per-OS code.
func newSegment(osid string, size int64, prefix []byte) *segment {
	s := &segment{osid: osid, size: size, prefix: prefix}
	s.hdr, s.err = memfile.ParseHeaderPrefix(prefix, size)
	if s.err == nil && len(prefix) < s.hdr.DataOffset {
		// The header changed between the two reads.
		s.err = fmt.Errorf("header changed while it was read (%d bytes read, data at %d)", len(prefix), s.hdr.DataOffset)
	}
	return s
}

// isShmx reports whether the prefix at least starts like a header: the
// magic. ls lists only those; a corrupt one is listed with its error.
func isShmx(prefix []byte) bool { return bytes.HasPrefix(prefix, segMagic) }

// resolve turns a command-line argument into a segment name: a link file
// (its osid line), a path inside the segment directory, or an osid.
func resolve(arg string) (osid, link string, err error) {
	data, rerr := readLink(arg)
	if rerr == nil {
		li, err := memfile.ParseLink(data)
		if err == nil {
			return li.OSID, arg, nil
		}
		if dir, derr := segmentDir(); derr == nil && filepath.Dir(filepath.Clean(arg)) == dir {
			return filepath.Base(arg), "", nil
		}
		return "", "", &fs.PathError{Op: "read link", Path: arg, Err: err}
	}
	if !errors.Is(rerr, fs.ErrNotExist) && !errors.Is(rerr, errNotRegular) {
		return "", "", rerr
	}
	if arg == "" || filepath.Base(arg) != arg || arg == "." || arg == ".." {
		return "", "", fmt.Errorf("%q is neither a link file nor a segment name", arg)
	}
	return arg, "", nil
}

var errNotRegular = errors.New("not a regular file")

// readLink reads a small regular file: a link file is at most 256 bytes,
// so anything larger is not one (and is not read whole).
func readLink(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, err := f.ReadAt(buf, 0)
	if err != nil && n == 0 && fi.Size() > 0 {
		return nil, err
	}
	return buf[:n], nil
}
