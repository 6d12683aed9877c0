package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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

// Where things sit in a segment, from the header layout documented in
// package memfile (which exports the parser but not the offsets).
const (
	hdrSize       = 128
	hdrOffDataOff = 40 // uint64 data offset
	hdrOffDataSz  = 48 // uint64 data size
	hdrOffSum     = 64 // uint32 CRC-32 (IEEE) of bytes 0-7 and 12-63
	// maxPrefix is the largest data offset a valid header can have: an
	// RWMutex (288 bytes rounded up to 384) and MaxEvents events of 128.
	maxPrefix = hdrSize + 384 + memfile.MaxEvents*128
)

// segMagic starts every header; anything else is not an shmx segment.
var segMagic = []byte("SHMXFILE")

// prefixLen says how many bytes of a segment of total bytes to read after
// its first hdrSize bytes: everything up to the data offset, bounded so a
// corrupt header never makes us read much.
func prefixLen(first []byte, total int64) int {
	if len(first) < hdrSize {
		return len(first)
	}
	off := binary.LittleEndian.Uint64(first[hdrOffDataOff:])
	n := int64(min(max(off, hdrSize), maxPrefix))
	return int(min(n, total))
}

// parsePrefix validates the bytes before a segment's user data with
// memfile.ParseHeader. ParseHeader wants the whole mapping, to check the
// data size against it; we hold only the prefix, so we check the data
// size against the segment's size ourselves and hand ParseHeader a copy
// whose data size is 0 (re-summed only if the original checksum was
// right, so a bad checksum is still reported as one).
func parsePrefix(prefix []byte, total int64) (memfile.HeaderInfo, error) {
	if len(prefix) < hdrSize {
		return memfile.ParseHeader(prefix)
	}
	le := binary.LittleEndian
	b := bytes.Clone(prefix)
	dataOff, dataSize := le.Uint64(b[hdrOffDataOff:]), le.Uint64(b[hdrOffDataSz:])
	sumOK := le.Uint32(b[hdrOffSum:]) == headerSum(b)
	le.PutUint64(b[hdrOffDataSz:], 0)
	if sumOK {
		le.PutUint32(b[hdrOffSum:], headerSum(b))
	}
	h, err := memfile.ParseHeader(b)
	if err != nil {
		return h, err
	}
	if dataOff > uint64(total) || dataSize > uint64(total)-dataOff {
		return memfile.HeaderInfo{}, fmt.Errorf("memfile: header data size: %d at offset %d overruns the %d-byte segment: %w",
			dataSize, dataOff, total, memfile.ErrCorrupt)
	}
	h.DataSize = int(dataSize)
	return h, nil
}

// headerSum is the header checksum as documented by memfile.
func headerSum(b []byte) uint32 {
	c := crc32.ChecksumIEEE(b[0:8])
	return crc32.Update(c, crc32.IEEETable, b[12:hdrOffSum])
}

// newSegment parses a prefix read by the per-OS code.
func newSegment(osid string, size int64, prefix []byte) *segment {
	s := &segment{osid: osid, size: size, prefix: prefix}
	s.hdr, s.err = parsePrefix(prefix, size)
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
