package futex_test

import (
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/testproc"
)

// mapSize is the size of every shared test mapping; words used by a test
// sit on separate 64-byte lines.
const mapSize = 4096

// envPath passes the shared file's path to a child.
const envPath = "FUTEX_TEST_PATH"

// sharedMem maps the file at path shared and registers the mapping under a
// name derived from path, in parent and child alike, so that on Windows
// the cross-process (named semaphore) path is the one exercised. The
// registration is undone before the mapping is removed.
func sharedMem(t testing.TB, path string) []byte {
	t.Helper()
	mem := testproc.MapFile(t, path, mapSize)
	h := fnv.New64a()
	h.Write([]byte(path))
	if err := futex.Register(mem, "shmx-futex-test-"+strconv.FormatUint(h.Sum64(), 16)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	t.Cleanup(func() { futex.Unregister(mem) })
	return mem
}

// newShared creates a fresh shared file for a parent test and maps it;
// the child finds it through envPath.
func newShared(t testing.TB) (mem []byte, env string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "futex")
	// Remove the file and its directory after the mapping is gone
	// (cleanups run last-in first-out) and before TempDir's own cleanup,
	// which wine 8.0 cannot run on a non-empty directory.
	t.Cleanup(func() {
		for _, p := range []string{path, dir} {
			if err := os.Remove(p); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})
	return sharedMem(t, path), envPath + "=" + path
}

// childShared maps the parent's shared file in a child.
func childShared(t testing.TB) []byte {
	t.Helper()
	return sharedMem(t, os.Getenv(envPath))
}

// word returns the 32-bit word at byte offset off of mem (a multiple of 4).
func word(mem []byte, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&mem[off]))
}

// waitFor polls cond until it holds or d (scaled for emulation) passes;
// it bounds how long a test waits for another process.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testproc.Scale(d))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// load reads a shared word atomically.
func load(p *uint32) uint32 { return atomic.LoadUint32(p) }
