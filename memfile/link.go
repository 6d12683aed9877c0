package memfile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Link file format, version 1. A link file is a small text file that names
// the OS segment behind a MemFile, so that programs agree on a path (which
// they already know how to share) rather than on an OS-specific name:
//
//	shmx-link v1\n
//	osid <name>\n
//	size <n>\n
//
// <name> is 1 to maxOSIDLen bytes of [A-Za-z0-9_.-]; <n> is the size in
// bytes of the whole segment (header included), decimal, no sign, no
// leading zero. Nothing else is accepted: no other line, no blank line, no
// trailing bytes, at most maxLinkLen bytes in all.
const (
	linkMagic  = "shmx-link v1"
	maxLinkLen = 256
	maxOSIDLen = 64
	// maxLinkSize bounds the size field so that it always fits an int64
	// and an int on 64-bit platforms.
	maxLinkSize = 1 << 62
)

// LinkInfo is the content of a link file.
type LinkInfo struct {
	OSID string // the OS name of the segment, as passed to shm.Open
	Size int64  // the size of the whole segment in bytes
}

// ParseLink decodes and strictly validates the content of a link file. It
// is exported for tools and fuzzing; Open uses it. Errors wrap ErrCorrupt
// (or ErrVersion for a link file of another format version) and say which
// line is wrong. It never panics.
func ParseLink(data []byte) (LinkInfo, error) {
	if len(data) > maxLinkLen {
		return LinkInfo{}, fmt.Errorf("link file is %d bytes, more than %d: %w", len(data), maxLinkLen, ErrCorrupt)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return LinkInfo{}, fmt.Errorf("link file does not end with a newline: %w", ErrCorrupt)
	}
	lines := bytes.Split(data[:len(data)-1], []byte{'\n'})
	if string(lines[0]) != linkMagic {
		if v, ok := bytes.CutPrefix(lines[0], []byte("shmx-link v")); ok && isDigits(v) {
			return LinkInfo{}, fmt.Errorf("link file format %q: %w", clip(lines[0]), ErrVersion)
		}
		return LinkInfo{}, fmt.Errorf("link file first line %q, want %q: %w", clip(lines[0]), linkMagic, ErrCorrupt)
	}
	if len(lines) != 3 {
		return LinkInfo{}, fmt.Errorf("link file has %d lines, want 3: %w", len(lines), ErrCorrupt)
	}
	id, ok := bytes.CutPrefix(lines[1], []byte("osid "))
	if !ok || !validOSID(id) {
		return LinkInfo{}, fmt.Errorf("link file osid line %q is not \"osid <name>\" with 1-%d bytes of [A-Za-z0-9_.-]: %w", clip(lines[1]), maxOSIDLen, ErrCorrupt)
	}
	sz, ok := bytes.CutPrefix(lines[2], []byte("size "))
	n, err := parseSize(sz)
	if !ok || err != nil {
		return LinkInfo{}, fmt.Errorf("link file size line %q is not \"size <n>\" with 0 < n <= 2^62: %w", clip(lines[2]), ErrCorrupt)
	}
	return LinkInfo{OSID: string(id), Size: n}, nil
}

// encode renders l in the link file format.
func (l LinkInfo) encode() []byte {
	return []byte(linkMagic + "\nosid " + l.OSID + "\nsize " + strconv.FormatInt(l.Size, 10) + "\n")
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// parseSize accepts a positive decimal without sign or leading zero.
func parseSize(b []byte) (int64, error) {
	if !isDigits(b) || len(b) > 19 || b[0] == '0' {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n > maxLinkSize {
		return 0, strconv.ErrRange
	}
	return n, nil
}

// validOSID reports whether id is a name shmx writes into link files: a
// conservative alphabet that is a valid file name, POSIX shm name and
// Windows object name everywhere.
func validOSID(id []byte) bool {
	if len(id) == 0 || len(id) > maxOSIDLen {
		return false
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return false
		}
	}
	return id[0] != '.' && id[0] != '-'
}

// clip keeps error messages short whatever a broken link file holds.
func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// newOSID returns a fresh segment name, "shmx_<pid>_<12 hex digits>": at
// most 28 bytes, so that with the leading "/" POSIX wants it stays under
// macOS's 31-byte limit on shm names. The pid makes leftovers traceable to
// their creator; 48 random bits make collisions between live segments
// negligible (and a collision is an error, never a shared segment, since
// shm.Create is exclusive).
func newOSID() string {
	var r [6]byte
	rand.Read(r[:]) // never fails since Go 1.24
	return "shmx_" + strconv.Itoa(os.Getpid()) + "_" + hex.EncodeToString(r[:])
}

// readLink reads and parses the link file at path, reading at most one byte
// more than a valid link file can hold.
func readLink(path string) (LinkInfo, error) {
	fh, err := os.Open(path)
	if err != nil {
		return LinkInfo{}, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxLinkLen+1))
	if err != nil {
		return LinkInfo{}, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	l, err := ParseLink(data)
	if err != nil {
		return LinkInfo{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return l, nil
}

// writeLink publishes l at path atomically: the content goes to a
// temporary file in the same directory first, so no reader ever sees a
// half-written link. Without replace, the temporary file is hard-linked to
// path, which fails when path exists: of several creators racing for one
// path, exactly one wins and the others get fs.ErrExist. With replace, the
// temporary file is renamed over path (atomic too, but last writer wins).
func writeLink(path string, l LinkInfo, perm fs.FileMode, replace bool) error {
	tmp, err := writeTemp(path, l.encode(), perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after a successful os.Link, only the name goes
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		// os.LinkError names both files; callers only know path.
		return &fs.PathError{Op: "create", Path: path, Err: le.Err}
	}
	return err
}

// writeTemp writes data to a new temporary file beside path and returns
// its name.
func writeTemp(path string, data []byte, perm fs.FileMode) (string, error) {
	fh, err := os.CreateTemp(filepath.Dir(path), ".shmx-link-*")
	if err != nil {
		return "", err
	}
	name := fh.Name()
	_, err = fh.Write(data)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// CreateTemp made it 0600; the link must be as readable as the
		// segment it names. (On Windows only the read-only bit exists.)
		err = os.Chmod(name, perm)
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// removeLink removes the link file at path only if it still names osid: a
// link that was force-replaced by another creator since belongs to that
// creator. The read-then-remove is not atomic; a replacement in that window
// loses its link file (its segment is unaffected).
func removeLink(path, osid string) error {
	l, err := readLink(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if l.OSID != osid {
		return nil
	}
	err = os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
