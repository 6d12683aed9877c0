package memfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// Read calls fn with the user data under the read side of the lock (the
// Mutex for LockMutex, a shared hold of the RWMutex for LockRWMutex; no
// lock for LockNone), and returns what fn returns. The lock is released
// even if fn panics. fn must not keep data after it returns, nor write to
// it.
//
// If a process died holding the lock, Read does not call fn: it returns
// an error matching ErrOwnerDead, with nothing held, until somebody
// repairs the data (LockRecover, MarkConsistent); see the package
// documentation.
//
// If f is closed while fn runs, Read returns an error matching
// fs.ErrClosed whatever fn returned: fn may have seen the data vanish
// (see Close).
func (f *MemFile) Read(fn func(data []byte) error) error {
	if err := f.RLockContext(context.Background()); err != nil {
		return err
	}
	defer f.RUnlock()
	return f.closedDuring("read", fn(f.data))
}

// Write calls fn with the user data under the write side of the lock and
// returns what fn returns. The lock is released even if fn panics. Like
// Read, it returns an error matching ErrOwnerDead without calling fn if a
// process died holding the lock.
func (f *MemFile) Write(fn func(data []byte) error) error {
	if f.readOnly {
		return f.errReadOnly("write")
	}
	if err := f.LockContext(context.Background()); err != nil {
		return err
	}
	defer f.Unlock()
	return f.closedDuring("write", fn(f.data))
}

// closedDuring returns err, or an error matching fs.ErrClosed if f was
// closed meanwhile.
func (f *MemFile) closedDuring(op string, err error) error {
	if f.closed.Load() {
		return f.errClosed(op)
	}
	return err
}

// Lock takes the write side of the lock (nothing for LockNone). Like
// Mutex.Lock it waits as long as it takes, and if a previous owner died
// holding the lock it panics with an error matching ErrOwnerDead, nothing
// held; use LockRecover to repair. It panics on a read-only MemFile with
// a lock.
func (f *MemFile) Lock() {
	f.mustOpen()
	switch {
	case f.mu != nil:
		f.mustWrite()
		f.mu.Lock()
	case f.rw != nil:
		f.mustWrite()
		f.rw.Lock()
	}
}

// LockContext takes the write side of the lock, waiting until it can or
// until ctx is done (then it returns ctx.Err() and changes nothing). If a
// previous owner died holding the lock, it returns an error matching
// ErrOwnerDead without the lock; LockRecover takes it to repair the data.
// No error comes with the lock held.
func (f *MemFile) LockContext(ctx context.Context) error {
	if f.closed.Load() {
		return f.errClosed("lock")
	}
	if f.mu == nil && f.rw == nil {
		return nil
	}
	if f.readOnly {
		return f.errReadOnly("lock")
	}
	var err error
	if f.mu != nil {
		err = f.mu.LockContext(ctx)
	} else {
		err = f.rw.LockContext(ctx)
	}
	return f.wrap("lock", err)
}

// LockRecover takes the write side of the lock like LockContext, but
// also after a holder died: then it reports inconsistent = true with the
// lock held and a nil error. The caller repairs the data, calls
// MarkConsistent and Unlock (see the example). For LockNone it returns
// false, nil.
func (f *MemFile) LockRecover(ctx context.Context) (inconsistent bool, err error) {
	if f.closed.Load() {
		return false, f.errClosed("lock")
	}
	if f.mu == nil && f.rw == nil {
		return false, nil
	}
	if f.readOnly {
		return false, f.errReadOnly("lock")
	}
	if f.mu != nil {
		inconsistent, err = f.mu.LockRecover(ctx)
	} else {
		inconsistent, err = f.rw.LockRecover(ctx)
	}
	return inconsistent, f.wrap("lock", err)
}

// Unlock releases the write side of the lock. After Close it does
// nothing: the lock lived in memory this process no longer shares (the
// locks' own Unlock knows that memory, see MemFile.Close).
func (f *MemFile) Unlock() {
	switch {
	case f.mu != nil:
		f.mu.Unlock()
	case f.rw != nil:
		f.rw.Unlock()
	}
}

// RLock takes the read side of the lock: a shared hold of the RWMutex, the
// Mutex itself for LockMutex, nothing for LockNone. Like Lock it panics,
// nothing held, if a previous owner died; use LockRecover to repair.
func (f *MemFile) RLock() {
	f.mustOpen()
	switch {
	case f.mu != nil:
		f.mustWrite()
		f.mu.Lock()
	case f.rw != nil:
		f.mustWrite()
		f.rw.RLock()
	}
}

// RLockContext is the read-side LockContext: it too returns an error
// matching ErrOwnerDead, nothing held, while the data may be inconsistent.
func (f *MemFile) RLockContext(ctx context.Context) error {
	if f.closed.Load() {
		return f.errClosed("rlock")
	}
	if f.mu == nil && f.rw == nil {
		return nil
	}
	if f.readOnly {
		return f.errReadOnly("rlock")
	}
	var err error
	if f.mu != nil {
		err = f.mu.LockContext(ctx)
	} else {
		err = f.rw.RLockContext(ctx)
	}
	return f.wrap("rlock", err)
}

// RUnlock releases the read side of the lock; after Close it does
// nothing, as Unlock.
func (f *MemFile) RUnlock() {
	switch {
	case f.mu != nil:
		f.mu.Unlock()
	case f.rw != nil:
		f.rw.RUnlock()
	}
}

// MarkConsistent declares the data consistent again after a lock owner
// died (see LockRecover). The caller must hold the write side of the lock.
// After Close it does nothing.
func (f *MemFile) MarkConsistent() {
	switch {
	case f.mu != nil:
		f.mu.MarkConsistent()
	case f.rw != nil:
		f.rw.MarkConsistent()
	}
}

// mustOpen panics, holding nothing, with an error matching fs.ErrClosed
// once f is closed: Lock and RLock have no error to return.
func (f *MemFile) mustOpen() {
	if f.closed.Load() {
		panic(f.errClosed("lock"))
	}
}

// mustWrite panics on a read-only MemFile: taking its lock would write to
// a read-only mapping, a fatal fault.
func (f *MemFile) mustWrite() {
	if f.readOnly {
		panic(f.errReadOnly("lock"))
	}
}

func (f *MemFile) errReadOnly(op string) error {
	return &fs.PathError{Op: op, Path: f.name(), Err: fmt.Errorf("memfile: opened read-only: %w", fs.ErrPermission)}
}

// wrap names f in a lock error; nil stays nil without allocating, and a
// context's error is returned as is, as callers of context APIs expect.
func (f *MemFile) wrap(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &fs.PathError{Op: op, Path: f.name(), Err: err}
}
