package shm

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// TestTrailerSizes: Open reports the exact size Create asked for, across
// every page boundary the trailer can straddle.
func TestTrailerSizes(t *testing.T) {
	page := int64(os.Getpagesize())
	for _, size := range []int64{1, page - trailerLen - 1, page - trailerLen, page - trailerLen + 1,
		page - 1, page, page + 1, 3*page - trailerLen, 3*page - trailerLen + 1} {
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			name := testName(t)
			c := mustCreate(t, name, size)
			o := mustOpen(t, name)
			if o.Size() != size || len(o.Bytes()) != int(size) {
				t.Fatalf("Open: Size %d len %d, want %d", o.Size(), len(o.Bytes()), size)
			}
			c.Bytes()[size-1] = 0xff // the last user byte is not the trailer
			if o2 := mustOpen(t, name); o2.Size() != size {
				t.Fatalf("after writing the last byte: Size %d, want %d", o2.Size(), size)
			}
		})
	}
}

// foreign makes a named pagefile-backed mapping the way another program
// would (no trailer), fills its last 16 bytes with tail, and returns the
// handle that keeps it alive.
func foreign(t *testing.T, name string, size int, tail []byte) {
	t.Helper()
	np, _ := windows.UTF16PtrFromString(`Local\` + name)
	h, err := windows.CreateFileMapping(windows.InvalidHandle, nil, windows.PAGE_READWRITE, 0, uint32(size), np)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := windows.MapViewOfFile(h, windows.FILE_MAP_WRITE, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		windows.UnmapViewOfFile(addr)
		windows.CloseHandle(h)
	})
	var mbi windows.MemoryBasicInformation
	windows.VirtualQuery(addr, &mbi, unsafe.Sizeof(mbi))
	copy(view(addr, int(mbi.RegionSize))[int(mbi.RegionSize)-len(tail):], tail)
}

// TestForeignSegment: a mapping made by another program has no trailer,
// or one that does not fit; Open then reports the page-rounded size and
// gives all of it to the user.
func TestForeignSegment(t *testing.T) {
	page := os.Getpagesize()
	le := func(v uint64) []byte {
		b := make([]byte, 8)
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		return b
	}
	magic := le(trailerMagic)
	for _, tc := range []struct {
		what string
		tail []byte
	}{
		{"zero tail", nil},
		{"random tail", []byte("0123456789abcdef")},
		{"magic, size too big", append(append([]byte{}, magic...), le(uint64(2*page))...)},
		{"magic, size too small for this many pages", append(append([]byte{}, magic...), le(uint64(page-trailerLen))...)},
		{"magic, size 0", append(append([]byte{}, magic...), le(0)...)},
		{"magic, negative size", append(append([]byte{}, magic...), le(1<<63)...)},
	} {
		t.Run(tc.what, func(t *testing.T) {
			name := testName(t)
			foreign(t, name, 2*page-100, tc.tail)
			o := mustOpen(t, name)
			if o.Size() != int64(2*page) || len(o.Bytes()) != 2*page {
				t.Fatalf("foreign segment: Size %d len %d, want the region size %d", o.Size(), len(o.Bytes()), 2*page)
			}
		})
	}
	// And a well-formed trailer in a foreign segment is believed.
	name := testName(t)
	foreign(t, name, 2*page, append(append([]byte{}, magic...), le(uint64(page+5))...))
	if o := mustOpen(t, name); o.Size() != int64(page+5) {
		t.Fatalf("foreign segment with a valid trailer: Size %d, want %d", o.Size(), page+5)
	}
}

// TestGlobalNamespace: Global\ needs a privilege that wine and ordinary
// users may lack; either it works, or it fails with fs.ErrPermission.
func TestGlobalNamespace(t *testing.T) {
	name := testName(t)
	s, err := Create(name, 100, WithGlobal())
	if err != nil {
		if !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Create(WithGlobal): %v, want success or fs.ErrPermission", err)
		}
		t.Skipf("no SeCreateGlobalPrivilege: %v", err)
	}
	defer s.Close()
	if s.OSName() != `Global\`+name {
		t.Fatalf("OSName %q", s.OSName())
	}
	o := mustOpen(t, name, WithGlobal())
	if o.Size() != 100 {
		t.Fatalf("Size %d", o.Size())
	}
}

// TestNameTakenByEvent: a kernel object of another kind holding the name
// makes Create fail with fs.ErrExist, not a bare ERROR_INVALID_HANDLE.
func TestNameTakenByEvent(t *testing.T) {
	name := testName(t)
	np, _ := windows.UTF16PtrFromString(`Local\` + name)
	ev, err := windows.CreateEvent(nil, 0, 0, np)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(ev)
	if _, err := Create(name, 100); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an event's name: %v, want fs.ErrExist", err)
	}
}
