//go:build unix

package testproc

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
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
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("testproc: mmap %s: %v", path, err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b
}
