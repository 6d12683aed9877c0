package futex

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A goroutine asleep in FUTEX_WAIT holds an OS thread in the kernel for
// as long as it sleeps, so 10,000 goroutines blocked on shmx objects are
// 10,000 threads, each woken at the end of every wait slice. io_uring
// (Linux 6.7 and later) can queue the same futex wait without a thread:
// IORING_OP_FUTEX_WAIT queues a waiter on the word exactly as futex(2)
// does (same hash bucket, same key, so FUTEX_WAKE from any process finds
// it and counts it), and posts a completion when it is woken, when its
// linked timeout fires, or at once when the word already differs. The
// goroutine meanwhile parks on a channel; a reaper goroutine per ring,
// woken through an eventfd in the Go netpoller (so no thread sleeps in the
// kernel for any of them), hands each completion to its waiter. The semantics a caller sees (woken, changed, timed out,
// spurious) and the count a Wake reports are those of futex(2) exactly,
// which is why the protocols above need no change and the explorer's
// model of a futex still describes them.
//
// The ring is built at the first wait that needs it and lives as long as
// the process. When io_uring is missing (kernels before 6.7, a seccomp
// filter such as Docker's that refuses io_uring_setup, qemu-user) the
// probe fails once and every wait sleeps on its own thread as before.

// io_uring ABI (include/uapi/linux/io_uring.h).
const (
	uringOpAsyncCancel   = 14
	uringOpLinkTimeout   = 15
	uringOpFutexWait     = 51
	uringSqeIOLink       = 1 << 2 // IOSQE_IO_LINK
	uringSetupCQSize     = 1 << 3 // IORING_SETUP_CQSIZE
	uringEnterGetEvents  = 1      // IORING_ENTER_GETEVENTS
	uringRegisterEventfd = 4      // IORING_REGISTER_EVENTFD
	uringSQCQOverflow    = 1 << 1 // IORING_SQ_CQ_OVERFLOW
	uringOffSQRing       = 0
	uringOffCQRing       = 0x8000000
	uringOffSQEs         = 0x10000000
	uringTimeoutAbs      = 1 // IORING_TIMEOUT_ABS, on CLOCK_MONOTONIC
	futexBitsetAny64     = 0xffffffff
)

// Ring sizes: a wait submits at most two entries (the wait and its
// timeout) under the submission lock and the kernel consumes them in the
// same call, so the submission queue never holds more than two; the
// completion queue only holds what the reaper has not read yet (overflow
// is kept by the kernel, IORING_FEAT_NODROP, not lost).
const (
	uringSQEntries = 16
	uringCQEntries = 256
)

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		userAddr                                                        uint64
	}
	cqOff struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		userAddr                                                        uint64
	}
}

type uringSQE struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off           uint64 // addr2: the futex value
	addr          uint64
	len           uint32
	opFlags       uint32
	userData      uint64
	bufIndex      uint16
	personality   uint16
	fileIndex     int32
	addr3         uint64 // the futex mask
	pad           uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// kernelTimespec is struct __kernel_timespec: 64-bit fields on every
// architecture (unix.Timespec has 32-bit ones on 32-bit CPUs).
type kernelTimespec struct{ sec, nsec int64 }

// uringSlot is one parked wait: the channel its completion arrives on and
// the deadline its linked timeout reads (in the heap, so that its address,
// written into the submission entry, stays valid while the kernel reads
// it during io_uring_enter).
type uringSlot struct {
	done chan int32
	ts   kernelTimespec
}

// userData of a completion: slot index << 1, low bit set for the linked
// timeout's own completion, which the reaper drops.
const uringTimeoutTag = 1

type uring struct {
	fd int
	// done is an eventfd the kernel signals at every completion; the
	// reaper reads it through the Go netpoller, so that no thread sleeps
	// in the kernel for the ring.
	done *os.File
	mem  [][]byte // the mappings, for close

	mu      sync.Mutex // submission: the SQ tail, the SQEs, free
	sqHead  *uint32
	sqTail  *uint32
	sqFlags *uint32 // the kernel sets uringSQCQOverflow there
	sqMask  uint32
	sqArray []uint32
	sqes    []uringSQE
	free    []uint32

	cqHead *uint32
	cqTail *uint32
	cqMask uint32
	cqes   []uringCQE

	// slots is replaced, never changed, when it grows, so that the
	// reaper reads it without the lock.
	slots atomic.Pointer[[]*uringSlot]
}

// The waits are spread over up to uringShards rings, each with its own
// reaper, because the kernel finds the wait a linked timeout cancels by
// walking its ring's list of futex waits: with 10,000 waits in one ring
// every slice that ends costs a walk of 10,000. Measured with 10,000 idle
// waiters and about 200 slice ends a second: 10-11% of a CPU with one
// ring, 5.5% with 16, 3.1-5.1% with 64; with the slice ends batched on
// memfile's grid, 0.9-1.1% with 64 rings and 0.6-0.7% with 256, whose
// walks are about 40 long.
//
// A ring costs two descriptors (its own and its eventfd) and a reaper
// goroutine, so the rings grow with the waits in flight, one per
// waitsPerRing: a process with a few parked waits has one ring, one with
// 10,000 has 256.
const (
	uringShards  = 256
	waitsPerRing = 40
)

var (
	ringOnce  sync.Once
	ringMu    sync.Mutex               // serialises growth
	rings     atomic.Pointer[[]*uring] // nil: io_uring futex waits are unavailable here
	ringNext  atomic.Uint32
	ringWaits atomic.Int32 // waits in flight in all rings
)

// getRing returns a ring of the process for the next wait, round-robin,
// or nil where io_uring cannot wait on a futex. The first ring is built
// and probed at the first call; more are built as the waits in flight
// grow (see waitsPerRing).
func getRing() *uring {
	ringOnce.Do(func() {
		r, err := newRing()
		if err != nil {
			return
		}
		if !r.probe() {
			r.close()
			return
		}
		go r.reap()
		rings.Store(&[]*uring{r})
	})
	p := rings.Load()
	if p == nil {
		return nil
	}
	rs := *p
	if needRing(len(rs)) {
		rs = growRings()
	}
	return rs[ringNext.Add(1)%uint32(len(rs))]
}

// needRing reports whether the process should have more than have
// rings for the waits in flight: one per waitsPerRing, up to uringShards.
func needRing(have int) bool {
	return have < uringShards && have < 1+int(ringWaits.Load())/waitsPerRing
}

// growRings adds one ring, unless another goroutine just did or the
// kernel refuses (the rings there are then all the process gets), and
// returns the rings.
func growRings() []*uring {
	ringMu.Lock()
	defer ringMu.Unlock()
	rs := *rings.Load()
	if !needRing(len(rs)) {
		return rs
	}
	r, err := newRing()
	if err != nil {
		return rs
	}
	go r.reap()
	grown := append(rs[:len(rs):len(rs)], r)
	rings.Store(&grown)
	return grown
}

var errNoFutexOp = errors.New("io_uring has no futex wait here")

func newRing() (*uring, error) {
	var p uringParams
	p.flags = uringSetupCQSize
	p.cqEntries = uringCQEntries
	fd, _, e := syscall.RawSyscall(unix.SYS_IO_URING_SETUP, uringSQEntries, uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, e
	}
	r := &uring{fd: int(fd)}
	fail := func(err error) (*uring, error) {
		r.close()
		return nil, err
	}
	unix.CloseOnExec(r.fd)
	sq, err := unix.Mmap(r.fd, uringOffSQRing, int(p.sqOff.array+p.sqEntries*4), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fail(err)
	}
	r.mem = append(r.mem, sq)
	cq, err := unix.Mmap(r.fd, uringOffCQRing, int(p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(uringCQE{}))), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fail(err)
	}
	r.mem = append(r.mem, cq)
	sqes, err := unix.Mmap(r.fd, uringOffSQEs, int(p.sqEntries*uint32(unsafe.Sizeof(uringSQE{}))), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fail(err)
	}
	r.mem = append(r.mem, sqes)
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return fail(err)
	}
	r.done = os.NewFile(uintptr(efd), "shmx-futex-ring")
	fd32 := int32(efd)
	if _, _, e := syscall.RawSyscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), uringRegisterEventfd, uintptr(unsafe.Pointer(&fd32)), 1, 0, 0); e != 0 {
		return fail(e)
	}
	r.sqHead = (*uint32)(unsafe.Pointer(&sq[p.sqOff.head]))
	r.sqTail = (*uint32)(unsafe.Pointer(&sq[p.sqOff.tail]))
	r.sqFlags = (*uint32)(unsafe.Pointer(&sq[p.sqOff.flags]))
	r.sqMask = *(*uint32)(unsafe.Pointer(&sq[p.sqOff.ringMask]))
	r.sqArray = unsafe.Slice((*uint32)(unsafe.Pointer(&sq[p.sqOff.array])), p.sqEntries)
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&sqes[0])), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Pointer(&cq[p.cqOff.head]))
	r.cqTail = (*uint32)(unsafe.Pointer(&cq[p.cqOff.tail]))
	r.cqMask = *(*uint32)(unsafe.Pointer(&cq[p.cqOff.ringMask]))
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&cq[p.cqOff.cqes])), p.cqEntries)
	// One slot to start with, so that a process whose waits come one at
	// a time never allocates in a wait.
	first := []*uringSlot{{done: make(chan int32, 1)}}
	r.slots.Store(&first)
	r.free = []uint32{0}
	return r, nil
}

// close releases a ring that never served a wait.
func (r *uring) close() {
	for _, m := range r.mem {
		unix.Munmap(m)
	}
	if r.done != nil {
		r.done.Close()
	}
	unix.Close(r.fd)
}

// probe asks the kernel, before the reaper runs, for a futex wait on a
// word that differs from the value given: a kernel that knows the
// operation answers -EAGAIN at once.
func (r *uring) probe() bool {
	x := uint32(1)
	r.mu.Lock()
	_, idx := r.slot()
	r.put(futexWait(&x, 0, idx))
	_, err := r.submit(1)
	r.mu.Unlock()
	ok := err == nil
	if !ok {
		return false
	}
	for {
		_, _, e := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), 0, 1, uringEnterGetEvents, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return false
		}
		break
	}
	head := *r.cqHead
	if atomic.LoadUint32(r.cqTail) == head {
		return false
	}
	c := r.cqes[head&r.cqMask]
	atomic.StoreUint32(r.cqHead, head+1)
	runtime.KeepAlive(&x)
	r.release(idx)
	return c.userData == uint64(idx)<<1 && c.res == -int32(unix.EAGAIN)
}

// futexWait is the submission entry of a futex wait on addr while it
// holds val, for slot idx.
func futexWait(addr *uint32, val uint32, idx uint32) uringSQE {
	return uringSQE{opcode: uringOpFutexWait, fd: futex2SizeU32, addr: uint64(uintptr(unsafe.Pointer(addr))),
		off: uint64(val), addr3: futexBitsetAny64, userData: uint64(idx) << 1}
}

// release gives slot idx back once its wait is over.
func (r *uring) release(idx uint32) {
	r.mu.Lock()
	r.free = append(r.free, idx)
	r.mu.Unlock()
}

// slot takes a free slot (r.mu held), making one if none is free.
func (r *uring) slot() (*uringSlot, uint32) {
	slots := *r.slots.Load()
	if n := len(r.free); n > 0 {
		idx := r.free[n-1]
		r.free = r.free[:n-1]
		return slots[idx], idx
	}
	s := &uringSlot{done: make(chan int32, 1)}
	grown := append(slots[:len(slots):len(slots)], s)
	r.slots.Store(&grown)
	return s, uint32(len(grown) - 1)
}

// put writes e into the submission entry at the queue's tail and
// publishes it (r.mu held): the queue is empty between two submissions,
// since the kernel consumes everything in the call (see submit).
func (r *uring) put(e uringSQE) {
	tail := *r.sqTail
	i := tail & r.sqMask
	r.sqes[i] = e
	r.sqArray[i] = i
	atomic.StoreUint32(r.sqTail, tail+1)
}

// submit makes the kernel consume the n entries just published (r.mu
// held). On failure before any was consumed it takes them back, so that
// the queue is empty again, and returns the error. inFlight reports
// whether the kernel took any: then the slot's completion is still to
// come, even after an error.
func (r *uring) submit(n uint32) (inFlight bool, err error) {
	left := n
	for tries := 0; left > 0; tries++ {
		k, _, e := syscall.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(left), 0, 0, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0 && left == n:
			atomic.StoreUint32(r.sqTail, *r.sqTail-n)
			return false, e
		case e != 0:
			// Part of a chain went in: the rest must follow, or the
			// wait would have no timeout.
			if tries > 1000 {
				return true, e
			}
			runtime.Gosched()
			continue
		}
		left -= uint32(k)
	}
	return true, nil
}

// wait is Wait through the ring: nil when woken or when the word differed,
// errTimeout when the timeout passed. ok is false when the ring could not
// take the wait (the caller then sleeps on its thread).
//
// When cancel (nil: never) is closed first, the wait cancels its own entry
// (IORING_OP_ASYNC_CANCEL, matched by its user data) and returns nil once
// the kernel has ended it; if the cancellation cannot be submitted it
// calls wakeAll, as a wait on a thread would (see WaitContext).
func (r *uring) wait(addr *uint32, val uint32, timeout time.Duration, cancel <-chan struct{}, wakeAll func()) (err error, ok bool) {
	var ts unix.Timespec
	if timeout >= 0 {
		if ts, err = monotonicDeadline(timeout); err != nil {
			return os.NewSyscallError("clock_gettime", err), true
		}
	}
	r.mu.Lock()
	s, idx := r.slot()
	e, n := futexWait(addr, val, idx), uint32(1)
	if timeout >= 0 {
		s.ts = kernelTimespec{int64(ts.Sec), int64(ts.Nsec)}
		e.flags = uringSqeIOLink
		r.put(e)
		r.put(uringSQE{opcode: uringOpLinkTimeout, fd: -1, addr: uint64(uintptr(unsafe.Pointer(&s.ts))),
			len: 1, opFlags: uringTimeoutAbs, userData: uint64(idx)<<1 | uringTimeoutTag})
		n = 2
	} else {
		r.put(e)
	}
	inFlight, err := r.submit(n)
	r.mu.Unlock()
	if err != nil {
		// A slot whose wait the kernel took is never reused: its
		// completion would reach the next waiter.
		if !inFlight {
			r.release(idx)
		}
		return nil, false
	}
	ringWaits.Add(1)
	var res int32
	select {
	case res = <-s.done:
	case <-cancel:
		if !r.cancel(idx) {
			wakeAll()
		}
		if res = <-s.done; res == -int32(unix.ECANCELED) {
			res = 0 // ours (or the timeout's: either way the wait is over)
		}
	}
	ringWaits.Add(-1)
	r.release(idx)
	switch res {
	case 0, -int32(unix.EAGAIN):
		return nil, true
	case -int32(unix.ECANCELED): // the linked timeout fired
		return errTimeout, true
	}
	return os.NewSyscallError("io_uring futex wait", syscall.Errno(-res)), true
}

// cancel submits the cancellation of slot idx's futex wait and reports
// whether the kernel took it. The cancellation's own completion carries
// the timeout tag, so the reaper drops it; the wait's completion (ended
// by it, or by whatever came first) reaches the slot as always.
func (r *uring) cancel(idx uint32) bool {
	r.mu.Lock()
	r.put(uringSQE{opcode: uringOpAsyncCancel, fd: -1, addr: uint64(idx) << 1, userData: uint64(idx)<<1 | uringTimeoutTag})
	inFlight, err := r.submit(1)
	r.mu.Unlock()
	return inFlight && err == nil
}

// reap is a ring's reaper: it waits for the ring's eventfd in the Go
// netpoller (no thread sleeps for it) and hands each wait's completion to
// its slot. The goroutines it readies run on its P as soon as it parks in
// its next read.
//
// Completions that found the completion queue full wait in the kernel's
// overflow list (IORING_FEAT_NODROP), which only an io_uring_enter with
// GETEVENTS moves into the queue: the reaper makes that call when the
// kernel flags an overflow, and looks again without waiting.
func (r *uring) reap() {
	var b [8]byte
	for {
		if atomic.LoadUint32(r.sqFlags)&uringSQCQOverflow != 0 {
			syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), 0, 0, uringEnterGetEvents, 0, 0)
		} else if _, err := r.done.Read(b[:]); err != nil {
			time.Sleep(time.Millisecond) // cannot happen on an open eventfd; never spin
		}
		head := *r.cqHead
		tail := atomic.LoadUint32(r.cqTail)
		if head == tail {
			continue
		}
		slots := *r.slots.Load()
		for ; head != tail; head++ {
			c := &r.cqes[head&r.cqMask]
			if c.userData&uringTimeoutTag == 0 {
				slots[c.userData>>1].done <- c.res
			}
		}
		atomic.StoreUint32(r.cqHead, head)
	}
}
