package futex

import (
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Named semaphores are the fallback path of registered words (see
// futex_windows.go): a waiter that finds its object's waiter queue full,
// or cannot open it, sleeps on the word's semaphore.

// semMax is the maximum count of every futex semaphore. It bounds how
// many wake-ups a semaphore can bank while nobody waits (each one later
// costs a waiter a spurious return), and it is the cap on the wake-ups one
// Wake or WakeAll releases on the fallback path.
const semMax = 64

var (
	modKernel32          = windows.NewLazySystemDLL("kernel32.dll")
	procCreateSemaphoreW = modKernel32.NewProc("CreateSemaphoreW")
	procReleaseSemaphore = modKernel32.NewProc("ReleaseSemaphore")
)

// semKey identifies one futex semaphore: the registered object's name and
// the word's offset in it.
type semKey struct {
	name string
	off  uintptr
}

// sem is a cached semaphore handle. refs counts the cache's own reference
// plus one per Wait or Wake using the handle, so that dropSemaphores never
// closes a handle a thread is blocked on: the last one out closes it.
type sem struct {
	h    windows.Handle
	refs atomic.Int32
}

// release drops one reference and closes the handle with the last one.
func (s *sem) release() {
	if s.refs.Add(-1) == 0 {
		windows.CloseHandle(s.h)
	}
}

// sems caches the semaphores this process opened: a per-process handle
// cache, the only global state here, which the OS forces (a named kernel
// object must be opened before use, and opening costs a system call).
var (
	semMu sync.RWMutex
	sems  = map[semKey]*sem{}
)

// acquireSem returns the semaphore of the word at off in object name with
// a reference the caller must release, creating or opening it on first
// use. After that it takes a read lock and one map lookup: no allocation.
func acquireSem(name string, off uintptr) (*sem, error) {
	k := semKey{name, off}
	semMu.RLock()
	s := sems[k]
	if s != nil {
		s.refs.Add(1)
	}
	semMu.RUnlock()
	if s != nil {
		return s, nil
	}
	return openSem(k)
}

// openSem creates or opens the named semaphore for k and caches it.
func openSem(k semKey) (*sem, error) {
	semMu.Lock()
	defer semMu.Unlock()
	if s := sems[k]; s != nil {
		s.refs.Add(1)
		return s, nil
	}
	name, err := windows.UTF16PtrFromString(semName(k.name, k.off))
	if err != nil {
		return nil, err
	}
	// CreateSemaphoreW opens the existing object (ERROR_ALREADY_EXISTS in
	// the last error, a valid handle) when another process created it:
	// whoever comes first creates it, with count 0, so a Wake before any
	// Wait is banked, not lost.
	h, _, e := procCreateSemaphoreW.Call(0, 0, semMax, uintptr(unsafe.Pointer(name)))
	if h == 0 {
		return nil, os.NewSyscallError("CreateSemaphoreW", e)
	}
	s := &sem{h: windows.Handle(h)}
	s.refs.Store(2) // the cache's and the caller's
	sems[k] = s
	return s, nil
}

// dropSemaphores removes the cached semaphores of object name and drops
// the cache's reference to each.
func dropSemaphores(name string) {
	semMu.Lock()
	var drop []*sem
	for k, s := range sems {
		if k.name == name {
			delete(sems, k)
			drop = append(drop, s)
		}
	}
	semMu.Unlock()
	for _, s := range drop {
		s.release()
	}
}

// semName derives the kernel object name of the semaphore for the word at
// off in object name, identically in every process:
// Local\shmx-futex-<readable part of name>-<FNV-1a of name>-<off in hex>
// (see objName).
func semName(name string, off uintptr) string {
	return objName("futex", name) + "-" + strconv.FormatUint(uint64(off), 16)
}

// objName derives the name of a kernel object of kind for object name,
// identically in every process: <ns>shmx-<kind>-<readable part of
// name>-<FNV-1a of name>. Object names may not contain '\' after the
// namespace and are limited in length, so only a sanitised, bounded
// prefix of name is kept for readability and the hash of the full name
// keeps distinct names distinct. A name in the Global\ namespace gets a
// Global\ object, so that processes of other sessions that can open the
// mapping meet too; any other gets a Local\ one.
func objName(kind, name string) string {
	ns := `Local\`
	if len(name) >= 7 && strings.EqualFold(name[:7], `Global\`) {
		ns = `Global\`
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	var b strings.Builder
	b.WriteString(ns)
	b.WriteString("shmx-")
	b.WriteString(kind)
	b.WriteByte('-')
	for i := 0; i < len(name) && i < 64; i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('-')
	b.WriteString(strconv.FormatUint(h.Sum64(), 16))
	return b.String()
}
