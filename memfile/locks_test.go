package memfile

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/testproc"
)

// Helpers shared by the tests of Mutex, RWMutex, Event and Semaphore.

const (
	envLockFile = "SHMX_LOCK_FILE" // the file a child maps
	lockMapSize = 64 << 10
)

// lockMapping maps the file at path shared (the parent creates it) and
// registers it with futex under a name derived from path, so that
// cross-process wake-ups work on Windows as they will in shm segments.
func lockMapping(t testing.TB, path string) []byte {
	t.Helper()
	b := testproc.MapFileLive(t, path, lockMapSize)
	h := fnv.New64a()
	h.Write([]byte(path))
	if err := futex.Register(b, fmt.Sprintf("shmx_locktest_%x", h.Sum64())); err != nil {
		t.Fatalf("futex.Register: %v", err)
	}
	t.Cleanup(func() { futex.Unregister(b) })
	return b
}

// parentMapping creates a fresh mapped file and returns it with the
// environment entry that lets a child map the same file.
func parentMapping(t *testing.T) ([]byte, string) {
	// Not t.TempDir: its RemoveAll fails under wine 8.0 (see
	// .ci/bin/go_windows_amd64_exec), while os.Remove of the file, then of
	// the empty directory, works everywhere. Cleanups run last-in
	// first-out: this one after the unmapping registered below.
	dir, err := os.MkdirTemp("", "shmx-locks-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "locks")
	t.Cleanup(func() {
		if err := os.Remove(path); err != nil {
			t.Error(err)
		}
		if err := os.Remove(dir); err != nil {
			t.Error(err)
		}
	})
	return lockMapping(t, path), envLockFile + "=" + path
}

// childMapping maps the file the parent named.
func childMapping(t *testing.T) []byte {
	return lockMapping(t, os.Getenv(envLockFile))
}

// word returns the 32-bit word at off of b for flags between processes.
func word(b []byte, off int) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&b[off]))
}

// counter returns the plain (non-atomic) 64-bit word at off of b.
func counter(b []byte, off int) *uint64 {
	return (*uint64)(unsafe.Pointer(&b[off]))
}

// waitFlag waits until the word at off of b is at least v, or fails.
func waitFlag(t *testing.T, b []byte, off int, v uint32) {
	t.Helper()
	deadline := time.Now().Add(testproc.Scale(20 * time.Second))
	for word(b, off).Load() < v {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for flag %d to reach %d", off, v)
		}
		time.Sleep(time.Millisecond)
	}
}

// startChildren starts n children running test with role, all mapping
// the parent's file.
func startChildren(t *testing.T, n int, test, role string, env ...string) []*exec.Cmd {
	t.Helper()
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmds[i] = testproc.Command(t, test, role, append(env, fmt.Sprintf("SHMX_CHILD_INDEX=%d", i))...)
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	return cmds
}

// waitChildren waits for every child and fails on a non-zero exit.
func waitChildren(t *testing.T, cmds []*exec.Cmd) {
	t.Helper()
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("child %d: %v", i, err)
		}
	}
}

// iterations returns n, reduced under emulation where each operation is
// far slower.
func iterations(t testing.TB, n int) int {
	if testproc.IsEmulated() {
		t.Logf("emulated: %d iterations instead of %d", n/10, n)
		return n / 10
	}
	return n
}

// snapshot copies the bytes of an object for before/after comparisons.
func snapshot(p unsafe.Pointer, size int) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(p), size)...)
}

// snapshotIdle is snapshot with the epoch of each waitCount at the given
// offsets zeroed: a count keeps the epoch of its last registrations when
// they leave (see waitCount), so the bytes of a primitive whose waiters
// came and went differ from before in that byte only, and mean the same.
func snapshotIdle(p unsafe.Pointer, size int, counts ...uintptr) []byte {
	b := snapshot(p, size)
	for _, off := range counts {
		w := (*waitCount)(unsafe.Add(p, off)).word
		binary.LittleEndian.PutUint32(b[off:], w&waitCountMask)
	}
	return b
}

// timeoutCtx returns a context that times out after d.
func timeoutCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// isOwnerDead reports whether err says the owner died.
func isOwnerDead(err error) bool { return errors.Is(err, ErrOwnerDead) }

// recoverer is what Mutex, RWMutex and MemFile offer to repair a lock a
// dead holder left inconsistent.
type recoverer interface {
	LockRecover(context.Context) (bool, error)
	MarkConsistent()
	Unlock()
}

// mustRecover takes l, which must be inconsistent, with LockRecover,
// marks it consistent and unlocks it.
func mustRecover(t testing.TB, l recoverer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dirty, err := l.LockRecover(ctx)
	if err != nil || !dirty {
		t.Fatalf("LockRecover = %v, %v; want true, nil (inconsistent)", dirty, err)
	}
	l.MarkConsistent()
	l.Unlock()
}

// until waits (10 s at most) for cond.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testproc.Scale(10 * time.Second))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
