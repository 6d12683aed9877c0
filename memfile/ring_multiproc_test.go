package memfile

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmx/shmx/futex"
	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/internal/testproc"
)

// Environment of the ring helper children.
const (
	envRingFile = "SHMX_RING_FILE" // path of the shared file
	envRingSize = "SHMX_RING_SIZE" // its size in bytes
	envRingName = "SHMX_RING_NAME" // futex.Register name (Windows)
	envRingArg  = "SHMX_RING_ARG"  // role argument (producer id, count)
)

// ringShared maps a shared file for a ring test in the parent and
// registers it for cross-process wake-ups, returning the bytes and the
// environment a child needs to map the same file. The mapping is tracked
// (testproc.MapFileLive), as a MemFile's is: this process joins the
// file's liveness domain, so that a claimant that died is judged dead
// here, and so that this process is judged alive by the others. Every
// process of a ring test maps it so (ringChildMem); one that did not would
// look dead to the others.
func ringShared(t testing.TB, size int) ([]byte, []string) {
	t.Helper()
	// Not t.TempDir: its RemoveAll fails under wine 8.0 (see
	// .ci/bin/go_windows_amd64_exec), while os.Remove of the file, then of
	// the empty directory, works everywhere. Cleanups run last-in
	// first-out: this one after the unmapping registered below.
	dir, err := os.MkdirTemp("", "shmx-ring-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ring")
	t.Cleanup(func() {
		for _, p := range []string{path, dir} {
			if err := os.Remove(p); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	name := fmt.Sprintf("shmx-ringtest-%d-%d", os.Getpid(), time.Now().UnixNano())
	b := testproc.MapFileLive(t, path, size)
	ringRegister(t, b, name)
	return b, []string{envRingFile + "=" + path, envRingSize + "=" + strconv.Itoa(size), envRingName + "=" + name}
}

// ringChildMem maps the parent's file in a helper child, tracked as in
// ringShared.
func ringChildMem(t testing.TB) []byte {
	t.Helper()
	size, err := strconv.Atoi(os.Getenv(envRingSize))
	if err != nil {
		t.Fatal(err)
	}
	b := testproc.MapFileLive(t, os.Getenv(envRingFile), size)
	ringRegister(t, b, os.Getenv(envRingName))
	return b
}

func ringRegister(t testing.TB, b []byte, name string) {
	t.Helper()
	if err := futex.Register(b, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { futex.Unregister(b) })
}

func ringArg(t testing.TB) int {
	n, err := strconv.Atoi(os.Getenv(envRingArg))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ringLiveMem returns n zeroed bytes of a tracked mapping (ringShared),
// for single-process tests that need a claimant or initialiser to be
// judged dead.
func ringLiveMem(t testing.TB, n int) []byte {
	t.Helper()
	b, _ := ringShared(t, n)
	return b
}

// newLiveRing lays out a Ring in a tracked mapping.
func newLiveRing(t testing.TB, slotSize, capacity int) *Ring {
	t.Helper()
	r, err := InitRing(ringLiveMem(t, RingSize(slotSize, capacity)), slotSize, capacity)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ringDeadToken returns a token that no process holds in the liveness
// domain of the tracked mapping b: the token of a process that died (or
// never was), as the kernel judges it. Where no domain vouches for anyone
// (an OS without one), the test is skipped.
func ringDeadToken(t testing.TB, b []byte) uint32 {
	t.Helper()
	tok := selfToken ^ 0x5a5a5a5a
	for range 1000 {
		if tok != 0 && tok != selfToken && live.Judge(unsafe.Pointer(&b[0]), tok) == live.Dead {
			return tok
		}
		tok = tok*2654435761 + 1
	}
	t.Skip("no liveness domain judges a token dead here")
	return 0
}

// envRingPer passes TestRingProcesses' message count to its children.
const envRingPer = "SHMX_RING_PER"

// Message layout of the multi-process test: producer id, sequence number.
const ringStop = 0xFFFF // producer id of the stop message

// TestRingProcesses moves numbered messages from 2 producer processes to 2
// consumer processes through one ring (1,000,000 natively, 20,000 under
// emulation, where each message costs far more): every message arrives
// exactly once (a shared bitmap records each, a second arrival fails) and
// in order per producer.
func TestRingProcesses(t *testing.T) {
	const slot, capacity = 64, 256
	per := 500000
	if testproc.IsEmulated() || testing.Short() {
		per = 10000
	}
	// The children are not run with -test.short: they take the
	// parent's count.
	if v, err := strconv.Atoi(os.Getenv(envRingPer)); err == nil && v > 0 {
		per = v
	}
	bitmap := (2*per + 63) / 64 * 8
	ringOff := (bitmap + 127) &^ 127
	switch testproc.Role() {
	case "producer":
		b := ringChildMem(t)
		r, err := RingAt(b[ringOff:])
		if err != nil {
			t.Fatal(err)
		}
		ringProduce(t, r, ringArg(t), per)
		return
	case "consumer":
		b := ringChildMem(t)
		r, err := RingAt(b[ringOff:])
		if err != nil {
			t.Fatal(err)
		}
		ringConsume(t, r, b[:bitmap], per)
		return
	}
	b, env := ringShared(t, ringOff+RingSize(slot, capacity))
	env = append(env, envRingPer+"="+strconv.Itoa(per))
	r, err := InitRing(b[ringOff:], slot, capacity)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages per producer", per)
	var cons, prods []*testprocCmd
	for i := range 2 {
		cons = append(cons, ringStart(t, "TestRingProcesses", "consumer", env, 0))
		prods = append(prods, ringStart(t, "TestRingProcesses", "producer", env, i))
	}
	for _, p := range prods {
		p.wait(t)
	}
	ctx := testproc.Context(t, 60*time.Second)
	var stop [12]byte
	binary.LittleEndian.PutUint32(stop[:], ringStop)
	for range cons {
		if err := r.Send(ctx, stop[:]); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cons {
		c.wait(t)
	}
	for i := range 2 * per {
		if b[i/8]&(1<<(i%8)) == 0 {
			t.Fatalf("message %d of producer %d never arrived", i%per, i/per)
		}
	}
}

func ringProduce(t *testing.T, r *Ring, id, per int) {
	ctx := testproc.Context(t, 100*time.Second)
	var msg [12]byte
	binary.LittleEndian.PutUint32(msg[:], uint32(id))
	batch := make([][]byte, 5)
	for i := range batch {
		batch[i] = make([]byte, 12)
	}
	for i := 0; i < per; i++ {
		if i%16 == 3 && i+len(batch) <= per { // a batch now and then
			for j, m := range batch {
				binary.LittleEndian.PutUint32(m, uint32(id))
				binary.LittleEndian.PutUint64(m[4:], uint64(i+j))
			}
			if _, err := r.SendBatch(ctx, batch); err != nil {
				t.Fatalf("batch at message %d: %v", i, err)
			}
			i += len(batch) - 1
			continue
		}
		binary.LittleEndian.PutUint64(msg[4:], uint64(i))
		if i%2 == 0 {
			if err := r.Send(ctx, msg[:]); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			continue
		}
		s, err := r.BeginSend(ctx) // the zero-copy path, every other message
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		s.Commit(copy(s.Bytes(), msg[:]))
	}
}

func ringConsume(t *testing.T, r *Ring, bitmap []byte, per int) {
	ctx := testproc.Context(t, 100*time.Second)
	last := [2]int{-1, -1}
	buf := make([]byte, r.SlotSize())
	bufs := make([][]byte, 4)
	// check records one message and reports whether it was a stop.
	check := func(msg []byte) bool {
		p, i := binary.LittleEndian.Uint32(msg), int(binary.LittleEndian.Uint64(msg[4:]))
		if p == ringStop {
			return true
		}
		if p > 1 || i >= per || len(msg) != 12 {
			t.Fatalf("garbage message %x", msg)
		}
		if i <= last[p] {
			t.Fatalf("producer %d: message %d after %d", p, i, last[p])
		}
		last[p] = i
		bit := int(p)*per + i
		w := ringWord32(bitmap, bit/32*4)
		mask := uint32(1) << (bit % 32)
		if w.Or(mask)&mask != 0 {
			t.Fatalf("producer %d message %d arrived twice", p, i)
		}
		return false
	}
	for k := 0; ; k++ {
		switch k % 3 {
		case 0:
			n, err := r.Recv(ctx, buf)
			if err != nil {
				t.Fatalf("after %d receives: %v", k, err)
			}
			if check(buf[:n]) {
				return
			}
		case 1:
			m, err := r.BeginRecv(ctx)
			if err != nil {
				t.Fatalf("after %d receives: %v", k, err)
			}
			stop := check(m.Bytes())
			m.Release()
			if stop {
				return
			}
		case 2:
			for i := range bufs {
				bufs[i] = make([]byte, 0, r.SlotSize())
			}
			n, err := r.RecvBatch(ctx, bufs)
			if err != nil {
				t.Fatalf("after %d receives: %v", k, err)
			}
			for j, msg := range bufs[:n] {
				if check(msg) {
					// The rest of the batch can only be the other
					// consumer's stop (both producers are done): pass
					// it on.
					for _, m := range bufs[j+1 : n] {
						if err := r.Send(ctx, m); err != nil {
							t.Fatal(err)
						}
					}
					return
				}
			}
		}
	}
}

// testprocCmd is a started helper child.
type testprocCmd struct {
	cmd  interface{ Wait() error }
	role string
}

func (c *testprocCmd) wait(t *testing.T) {
	t.Helper()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("%s child: %v", c.role, err)
	}
}

func ringStart(t *testing.T, test, role string, env []string, arg int) *testprocCmd {
	t.Helper()
	cmd := testproc.Command(t, test, role, append(env, envRingArg+"="+strconv.Itoa(arg))...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &testprocCmd{cmd, role}
}

// TestRingKilledClaimants kills a child that holds a slot claimed through
// the zero-copy API, once as a producer (before Commit) and once as a
// consumer (before Release): the ring keeps working for the parent, which
// skips the dead producer's slot and reuses the dead consumer's. The
// reclaim-race case repeats the consumer's death with the ring full behind
// it and 16 goroutines racing to repair it while another sends into the
// freed slot (see ringReclaimRace).
func TestRingKilledClaimants(t *testing.T) {
	const slot, capacity = 32, 4
	flagOff := RingSize(slot, capacity)
	switch testproc.Role() {
	case "claim-send", "claim-recv":
		b := ringChildMem(t)
		r, err := RingAt(b[:flagOff])
		if err != nil {
			t.Fatal(err)
		}
		ctx := testproc.Context(t, 30*time.Second)
		if testproc.Role() == "claim-send" {
			s, err := r.BeginSend(ctx)
			if err != nil {
				t.Fatal(err)
			}
			copy(s.Bytes(), "half-written")
		} else if _, err := r.BeginRecv(ctx); err != nil {
			t.Fatal(err)
		}
		ringWord32(b, flagOff).Store(1) // claimed: kill me now
		<-ctx.Done()
		t.Fatal("not killed")
	}
	// kill starts a child in role, waits until it holds its claim and
	// kills it; the ring holds "before" at position 0, which a claim-recv
	// child has claimed.
	kill := func(t *testing.T, role string) (context.Context, *Ring) {
		b, env := ringShared(t, flagOff+8)
		r, err := InitRing(b[:flagOff], slot, capacity)
		if err != nil {
			t.Fatal(err)
		}
		ctx := testproc.Context(t, 30*time.Second)
		r.TrySend([]byte("before"))
		cmd := testproc.Command(t, "TestRingKilledClaimants", role, env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		flag := ringWord32(b, flagOff)
		for flag.Load() == 0 {
			if ctx.Err() != nil {
				t.Fatal("child never claimed a slot")
			}
			time.Sleep(time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		return ctx, r
	}
	for _, role := range []string{"claim-send", "claim-recv"} {
		t.Run(role, func(t *testing.T) {
			ctx, r := kill(t, role)
			ringAfterKill(t, ctx, r, role == "claim-send")
		})
	}
	t.Run("reclaim-race", func(t *testing.T) {
		trials := 20
		if testproc.IsEmulated() || testing.Short() {
			trials = 5
		}
		failed := 0
		for i := range trials {
			ctx, r := kill(t, "claim-recv")
			for _, m := range []string{"1", "2", "3"} {
				if !r.TrySend([]byte(m)) {
					t.Fatalf("trial %d: TrySend(%s) failed", i, m)
				}
			}
			if !ringReclaimRace(t, r) {
				failed++
				continue
			}
			ringAfterKill(t, ctx, r, false)
		}
		if failed > 0 {
			t.Fatalf("%d of %d trials lost a message or wedged", failed, trials)
		}
	})
}

// TestRingInitialiserChild has a child process begin initialising a ring
// (the being-initialised state word with its token, in its tracked
// mapping) and stop there: while it lives, InitRing in the parent waits
// and fails with ErrNotReady, never taking over; once it is killed,
// InitRing takes over at once and the ring works.
func TestRingInitialiserChild(t *testing.T) {
	const slot, capacity = 16, 4
	flagOff := RingSize(slot, capacity)
	if testproc.Role() == "initialiser" {
		b := ringChildMem(t)
		if !ringWord64(b, ringStateOff).CompareAndSwap(0, ringInitState(selfToken)) {
			t.Fatal("ring not untouched")
		}
		ringWord32(b, flagOff).Store(1) // initialising: stuck until killed
		<-testproc.Context(t, 30*time.Second).Done()
		t.Fatal("not killed")
	}
	defer func(d time.Duration) { ringInitWait = d }(ringInitWait)
	ringInitWait = 200 * time.Millisecond
	b, env := ringShared(t, flagOff+8)
	ctx := testproc.Context(t, 30*time.Second)
	cmd := testproc.Command(t, "TestRingInitialiserChild", "initialiser", env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for ringWord32(b, flagOff).Load() == 0 {
		if ctx.Err() != nil {
			t.Fatal("child never began initialising")
		}
		time.Sleep(time.Millisecond)
	}
	held := ringWord64(b, ringStateOff).Load()
	if _, err := InitRing(b[:flagOff], slot, capacity); !errors.Is(err, ErrNotReady) {
		t.Fatalf("InitRing while the initialiser lives = %v, want ErrNotReady", err)
	}
	if w := ringWord64(b, ringStateOff).Load(); w != held {
		t.Fatalf("state word %#x, want %#x: a live initialiser was taken over", w, held)
	}
	killed := time.Now()
	cmd.Process.Kill()
	cmd.Wait()
	r, err := InitRing(b[:flagOff], slot, capacity)
	for errors.Is(err, ErrNotReady) && ctx.Err() == nil {
		// The kernel may take a moment to drop a killed process's lock.
		r, err = InitRing(b[:flagOff], slot, capacity)
	}
	if err != nil {
		t.Fatalf("InitRing after the initialiser was killed: %v", err)
	}
	t.Logf("dead initialiser taken over %v after the kill", time.Since(killed))
	ringAfterKill(t, ctx, r, false)
}

// ringAfterKill checks that the ring still carries several laps of
// messages after a claimant died.
func ringAfterKill(t *testing.T, ctx context.Context, r *Ring, deadProducer bool) {
	buf := make([]byte, 32)
	if deadProducer {
		// "before" is still queued ahead of the dead producer's slot.
		if n, err := r.Recv(ctx, buf); err != nil || string(buf[:n]) != "before" {
			t.Fatalf("Recv = %q, %v", buf[:n], err)
		}
	}
	start := time.Now()
	for i := range 3 * r.Cap() {
		if err := r.Send(ctx, []byte{byte(i)}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		n, err := r.Recv(ctx, buf)
		if err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("Recv %d = %x, %v", i, buf[:n], err)
		}
	}
	t.Logf("ring repaired and carried %d messages in %v", 3*r.Cap(), time.Since(start))
}

// TestSeqLockProcesses has a writer child publish values that carry a
// checksum while two reader children load them as fast as they can: no
// reader may ever see a torn value, and readers see the sequence advance.
func TestSeqLockProcesses(t *testing.T) {
	type value struct {
		N   uint64
		V   [13]uint32
		Sum uint32
		Odd [3]byte
	}
	sum := func(v *value) uint32 {
		s := uint32(v.N) * 2654435761
		for _, x := range v.V {
			s = s*31 + x
		}
		return s ^ uint32(v.Odd[0])<<8 ^ uint32(v.Odd[2])
	}
	writes := 200000
	if testproc.IsEmulated() {
		writes = 20000
	}
	size := SeqLockSize[value]() + 8
	switch testproc.Role() {
	case "writer", "reader":
		b := ringChildMem(t)
		l, err := SeqLockAt[value](b)
		if err != nil {
			t.Fatal(err)
		}
		done := ringWord32(b, size-8)
		if testproc.Role() == "writer" {
			for i := 1; i <= writes; i++ {
				v := value{N: uint64(i), Odd: [3]byte{byte(i), 1, byte(i >> 8)}}
				for j := range v.V {
					v.V[j] = uint32(i * (j + 1))
				}
				v.Sum = sum(&v)
				l.Store(v)
			}
			done.Store(1)
			return
		}
		ctx := testproc.Context(t, 60*time.Second)
		loads, prev := 0, uint64(0)
		for done.Load() == 0 && ctx.Err() == nil {
			v := l.Load()
			loads++
			if v.N != 0 && v.Sum != sum(&v) {
				t.Fatalf("torn value after %d loads: %+v", loads, v)
			}
			if v.N < prev {
				t.Fatalf("value went back from %d to %d", prev, v.N)
			}
			prev = v.N
		}
		if ctx.Err() != nil {
			t.Fatal("writer never finished")
		}
		fmt.Fprintf(os.Stderr, "seqlock reader: %d consistent loads, last value %d of %d\n", loads, prev, writes)
		return
	}
	b, env := ringShared(t, size)
	if _, err := SeqLockAt[value](b); err != nil {
		t.Fatal(err)
	}
	var readers []*testprocCmd
	for range 2 {
		readers = append(readers, ringStart(t, "TestSeqLockProcesses", "reader", env, 0))
	}
	ringStart(t, "TestSeqLockProcesses", "writer", env, 0).wait(t)
	for _, r := range readers {
		r.wait(t)
	}
	l, _ := SeqLockAt[value](b)
	if v := l.Load(); v.N != uint64(writes) || v.Sum != sum(&v) {
		t.Fatalf("parent sees %+v, not the writer's last value", v)
	}
}

// TestRingKilledBatchProducer SIGKILLs a child that streams SendBatch
// batches of 8 into a ring of 16 while the parent drains it with
// RecvBatch, trials times: whatever the child held when it died (often
// nothing, sometimes several consecutive claimed slots, or slots claimed
// but not yet passed by tail) is repaired, so the parent's own message
// sent after the kill arrives; the child's messages arrive in order and
// none twice. (The explorer's batch model kills at every step; this is
// the same with real processes and the kernel's liveness.)
func TestRingKilledBatchProducer(t *testing.T) {
	const slot, capacity, batch = 16, 16, 8
	if testproc.Role() == "batch-send" {
		r, err := RingAt(ringChildMem(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx := testproc.Context(t, 30*time.Second)
		msgs := make([][]byte, batch)
		for i := range msgs {
			msgs[i] = make([]byte, 8)
		}
		for n := uint64(0); ; n += batch {
			for i, m := range msgs {
				binary.LittleEndian.PutUint64(m, n+uint64(i))
			}
			if _, err := r.SendBatch(ctx, msgs); err != nil {
				t.Fatal(err)
			}
		}
	}
	trials := 10
	if testproc.IsEmulated() || testing.Short() {
		trials = 3
	}
	for trial := range trials {
		b, env := ringShared(t, RingSize(slot, capacity))
		r, err := InitRing(b, slot, capacity)
		if err != nil {
			t.Fatal(err)
		}
		ctx := testproc.Context(t, 30*time.Second)
		cmd := testproc.Command(t, "TestRingKilledBatchProducer", "batch-send", env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var got atomic.Int64
		done := make(chan error, 1)
		go func() {
			bufs := make([][]byte, batch)
			next := uint64(0)
			for {
				for i := range bufs {
					bufs[i] = make([]byte, 0, slot)
				}
				n, err := r.RecvBatch(ctx, bufs)
				if err != nil {
					done <- err
					return
				}
				for _, m := range bufs[:n] {
					if string(m) == "the end" {
						done <- nil
						return
					}
					if len(m) != 8 || binary.LittleEndian.Uint64(m) != next {
						done <- fmt.Errorf("message %x, want number %d", m, next)
						return
					}
					next++
				}
				got.Add(int64(n))
			}
		}()
		for got.Load() < int64(1000+trial*97) && ctx.Err() == nil {
			time.Sleep(100 * time.Microsecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		if err := r.Send(ctx, []byte("the end")); err != nil {
			t.Fatalf("trial %d: Send after the kill: %v", trial, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
	}
}

// TestRingSleepersKilled has two child processes each block 16 goroutines
// in Recv (Block: they sleep at once) on one ring, SIGKILLs one child
// while they sleep, then sends msgs numbered messages one at a time and
// one stop per goroutine of the live child. A publication wakes one
// sleeper and the woken one passes the wake-up on (Ring.passOn), so the
// wake-ups that reach the dead child's sleepers, whose waits the kernel
// tears down, must not strand the live child's: every message arrives
// exactly once (a shared bitmap), and the live child returns. A wake-up
// lost for good would end the test at its deadline; one lost until a
// sleeper's slice ends only slows it.
func TestRingSleepersKilled(t *testing.T) {
	const slot, capacity, per = 16, 8, 16
	msgs := 400
	if testproc.IsEmulated() || testing.Short() {
		msgs = 100
	}
	bitmap := (msgs + 63) / 64 * 8
	asleepOff := bitmap
	ringOff := (asleepOff + 8 + 127) &^ 127
	if testproc.Role() == "sleepers" {
		b := ringChildMem(t)
		r, err := RingAt(b[ringOff:])
		if err != nil {
			t.Fatal(err)
		}
		ctx := WithWaitStrategy(testproc.Context(t, 60*time.Second), Block)
		errs := make(chan error, per)
		for range per {
			go func() {
				buf := make([]byte, slot)
				for {
					ringWord32(b, asleepOff).Add(1)
					n, err := r.Recv(ctx, buf)
					if err != nil {
						errs <- err
						return
					}
					if n == 1 && buf[0] == 0xff {
						errs <- nil
						return
					}
					i := int(binary.LittleEndian.Uint32(buf))
					if n != 4 || i >= msgs {
						errs <- fmt.Errorf("garbage message %x", buf[:n])
						return
					}
					mask := uint32(1) << (i % 32)
					if ringWord32(b, i/32*4).Or(mask)&mask != 0 {
						errs <- fmt.Errorf("message %d arrived twice", i)
						return
					}
				}
			}()
		}
		for range per {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	b, env := ringShared(t, ringOff+RingSize(slot, capacity))
	r, err := InitRing(b[ringOff:], slot, capacity)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testproc.Context(t, 60*time.Second)
	asleep := ringWord32(b, asleepOff)
	live := ringStart(t, "TestRingSleepersKilled", "sleepers", env, 0)
	doomed := testproc.Command(t, "TestRingSleepersKilled", "sleepers", env...)
	if err := doomed.Start(); err != nil {
		t.Fatal(err)
	}
	for asleep.Load() < 2*per {
		if ctx.Err() != nil {
			t.Fatal("the children's goroutines never reached Recv")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(testproc.Scale(50 * time.Millisecond)) // asleep in the kernel
	doomed.Process.Kill()
	doomed.Wait()
	var msg [4]byte
	for i := range msgs {
		binary.LittleEndian.PutUint32(msg[:], uint32(i))
		if err := r.Send(ctx, msg[:]); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if i%8 == 0 {
			time.Sleep(100 * time.Microsecond) // let the sleepers fall asleep again
		}
	}
	for range per {
		if err := r.Send(ctx, []byte{0xff}); err != nil {
			t.Fatal(err)
		}
	}
	live.wait(t)
	for i := range msgs {
		if b[i/8]&(1<<(i%8)) == 0 {
			t.Fatalf("message %d never arrived", i)
		}
	}
}
