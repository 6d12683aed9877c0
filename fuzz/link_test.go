package fuzz_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/shmx/shmx/memfile"
)

// Limits of the link file format, version 1, as memfile documents it.
const (
	maxOSIDLen  = 64      // an OS id is 1 to 64 bytes of [A-Za-z0-9_.-]
	maxLinkSize = 1 << 62 // the size line's upper bound
)

// encodeLink renders a link file the way memfile writes one.
func encodeLink(osid string, size int64) string {
	return "shmx-link v1\nosid " + osid + "\nsize " + strconv.FormatInt(size, 10) + "\n"
}

// FuzzLinkFile feeds arbitrary contents of a link file to
// memfile.ParseLink, ending at a PROT_NONE page on Linux.
//
// Property: ParseLink never panics or reads past its input; it fails with
// an error matching ErrCorrupt (or ErrVersion for another format
// version), or returns an OS id that is safe to hand to the OS as a
// segment name (1 to 64 bytes of [A-Za-z0-9_.-], so no '/', '\\', NUL or
// "..", not starting with '.' or '-') and a size in 1..2^62; and since the
// format is strict, the accepted input is exactly the canonical encoding
// of what it returned.
func FuzzLinkFile(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		b := guarded(t, len(data))
		copy(b, data)
		l, err := memfile.ParseLink(b)
		if err != nil {
			if !errors.Is(err, memfile.ErrCorrupt) && !errors.Is(err, memfile.ErrVersion) {
				t.Fatalf("ParseLink error matches no sentinel: %v", err)
			}
			return
		}
		if !safeOSID(l.OSID) {
			t.Fatalf("ParseLink accepted the unsafe OS id %q", l.OSID)
		}
		if l.Size <= 0 || l.Size > maxLinkSize {
			t.Fatalf("ParseLink accepted the size %d", l.Size)
		}
		if want := encodeLink(l.OSID, l.Size); string(data) != want {
			t.Fatalf("ParseLink accepted %q, which is not the encoding %q of %+v", data, want, l)
		}
	})
}

// safeOSID applies the name rules of the link format independently of
// memfile's own check.
func safeOSID(id string) bool {
	if len(id) == 0 || len(id) > maxOSIDLen || strings.ContainsAny(id, "/\\\x00") || id[0] == '.' || id[0] == '-' {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
