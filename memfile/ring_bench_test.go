package memfile

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/testproc"
)

// The ring benchmarks run beside the same exchange over a Unix domain
// socket, in one run, so that the ratio (not an absolute time) is what is
// quoted. Every benchmark talks to a helper child process started through
// TestRingBenchHelper.

const (
	benchSlot = 4096
	benchCap  = 256
	envSock   = "SHMX_RING_SOCK"
)

// TestRingBenchHelper is the child side of the ring and socket benchmarks.
func TestRingBenchHelper(t *testing.T) {
	switch testproc.Role() {
	case "":
		t.Skip("helper process for the ring benchmarks")
	case "ring-echo", "ring-drain", "ring-drain-inplace", "ring-drain-batch":
		b := ringChildMem(t)
		req, err := RingAt(b[:RingSize(benchSlot, benchCap)])
		if err != nil {
			t.Fatal(err)
		}
		resp, err := RingAt(b[RingSize(benchSlot, benchCap):])
		if err != nil {
			t.Fatal(err)
		}
		if testproc.Role() == "ring-drain-batch" {
			benchRingDrainBatch(t, req, resp)
			return
		}
		if testproc.Role() == "ring-drain-inplace" {
			benchRingDrainInPlace(t, req, resp)
			return
		}
		benchRingServe(t, req, resp, testproc.Role() == "ring-echo")
	case "sock-echo", "sock-drain":
		c, err := net.Dial("unix", os.Getenv(envSock))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		benchSockServe(t, c.(*net.UnixConn), testproc.Role() == "sock-echo", ringArg(t))
	}
}

// benchRingDrainInPlace drains req zero-copy: it reads every 8-byte word
// of each message where it lies in the slot (BeginRecv, Release), and
// answers a 0-byte message with the count of messages and the sum of
// their words, so that the sender can check that it was all read.
func benchRingDrainInPlace(t *testing.T, req, resp *Ring) {
	ctx := testproc.Context(t, 100*time.Second)
	count, sum := uint64(0), uint64(0)
	for {
		slot, err := req.BeginRecv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := slot.Bytes()
		if len(m) == 0 {
			slot.Release()
			var out [16]byte
			binary.LittleEndian.PutUint64(out[:], count)
			binary.LittleEndian.PutUint64(out[8:], sum)
			if err := resp.Send(ctx, out[:]); err != nil {
				t.Fatal(err)
			}
			return
		}
		for i := 0; i+8 <= len(m); i += 8 {
			sum += binary.LittleEndian.Uint64(m[i:])
		}
		slot.Release()
		count++
	}
}

// benchRingServe echoes every message from req to resp, or drains req and
// answers with a count; a 0-byte message stops it.
func benchRingServe(t *testing.T, req, resp *Ring, echo bool) {
	ctx := testproc.Context(t, 100*time.Second)
	buf := make([]byte, benchSlot)
	count := uint64(0)
	for {
		n, err := req.Recv(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			binary.LittleEndian.PutUint64(buf, count)
			if err := resp.Send(ctx, buf[:8]); err != nil {
				t.Fatal(err)
			}
			return
		}
		count++
		if echo {
			if err := resp.Send(ctx, buf[:n]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// benchSockServe echoes size-byte messages, or drains the stream and
// answers with the byte count, until the parent closes its side.
func benchSockServe(t *testing.T, c *net.UnixConn, echo bool, size int) {
	c.SetDeadline(time.Now().Add(testproc.Scale(100 * time.Second)))
	buf := make([]byte, 64<<10)
	total := uint64(0)
	for {
		var n int
		var err error
		if echo {
			n, err = io.ReadFull(c, buf[:size])
		} else {
			n, err = c.Read(buf)
		}
		total += uint64(n)
		if err == io.EOF {
			binary.LittleEndian.PutUint64(buf, total)
			c.Write(buf[:8])
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if echo {
			if _, err := c.Write(buf[:n]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// benchRingPair maps two rings (requests, responses) and starts the
// child; wait waits for the child to exit (after it was sent a 0-byte
// message and answered it).
func benchRingPair(b *testing.B, role string) (req, resp *Ring, wait func()) {
	size := RingSize(benchSlot, benchCap)
	mem, env := ringShared(b, 2*size)
	req, err := InitRing(mem[:size], benchSlot, benchCap)
	if err != nil {
		b.Fatal(err)
	}
	if resp, err = InitRing(mem[size:], benchSlot, benchCap); err != nil {
		b.Fatal(err)
	}
	cmd := testproc.Command(b, "TestRingBenchHelper", role, env...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return req, resp, func() {
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRingPingPong(b *testing.B) {
	req, resp, wait := benchRingPair(b, "ring-echo")
	ctx := context.Background()
	msg, buf := make([]byte, 64), make([]byte, benchSlot)
	req.Send(ctx, msg) // warm up: the child is running
	resp.Recv(ctx, buf)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := req.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if _, err := resp.Recv(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	req.Send(ctx, nil)
	resp.Recv(ctx, buf)
	wait()
}

func BenchmarkRingThroughput(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(benchSizeName(size), func(b *testing.B) {
			req, resp, wait := benchRingPair(b, "ring-drain")
			defer wait()
			ctx := testproc.Context(b, 100*time.Second)
			msg, buf := make([]byte, size), make([]byte, 8)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := req.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
			req.Send(ctx, nil)
			if _, err := resp.Recv(ctx, buf); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if got := binary.LittleEndian.Uint64(buf); got != uint64(b.N) {
				b.Fatalf("child received %d messages, sent %d", got, b.N)
			}
		})
	}
}

func benchSizeName(size int) string {
	if size >= 1024 {
		return strconv.Itoa(size>>10) + "KiB"
	}
	return strconv.Itoa(size) + "B"
}

// benchSock listens on a Unix socket, starts the child and accepts it;
// it skips where AF_UNIX is unavailable.
func benchSock(b *testing.B, role string, size int) (*net.UnixConn, func()) {
	path := filepath.Join(b.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Skipf("no Unix domain sockets here: %v", err)
	}
	defer ln.Close()
	cmd := testproc.Command(b, "TestRingBenchHelper", role, envSock+"="+path, envRingArg+"="+strconv.Itoa(size))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	return c.(*net.UnixConn), func() {
		c.Close()
		cmd.Wait()
	}
}

func BenchmarkUnixSocketPingPong(b *testing.B) {
	c, stop := benchSock(b, "sock-echo", 64)
	defer stop()
	msg := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnixSocketThroughput(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(benchSizeName(size), func(b *testing.B) {
			c, stop := benchSock(b, "sock-drain", size)
			defer stop()
			msg, ack := make([]byte, size), make([]byte, 8)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			c.CloseWrite()
			if _, err := io.ReadFull(c, ack); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if got := binary.LittleEndian.Uint64(ack); got != uint64(b.N*size) {
				b.Fatalf("child received %d bytes, sent %d", got, b.N*size)
			}
		})
	}
}

// BenchmarkRingUncontended is the cost of one TrySend plus one TryRecv of
// 64 bytes in one goroutine: the fast path with no other party.
func BenchmarkRingUncontended(b *testing.B) {
	r := newTestRing(b, 64, 64)
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		r.TrySend(msg)
		r.TryRecv(buf)
	}
}

// BenchmarkRingThroughputZeroCopy is BenchmarkRingThroughput/64B done
// zero-copy at both ends: the producer writes all 64 bytes of each
// message in the slot (BeginSend/Commit) and the consumer process reads
// all of them there (BeginRecv/Release), checked by a sum. (It used to
// write 8 bytes and copy out, which moved one of a slot's two cache
// lines and flattered it.)
func BenchmarkRingThroughputZeroCopy(b *testing.B) {
	req, resp, wait := benchRingPair(b, "ring-drain-inplace")
	defer wait()
	ctx := testproc.Context(b, 100*time.Second)
	buf := make([]byte, 16)
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	want := uint64(0)
	for i := range b.N {
		s, err := req.BeginSend(ctx)
		if err != nil {
			b.Fatal(err)
		}
		m := s.Bytes()[:64] // the whole message, written in the slot
		for w := 0; w < 64; w += 8 {
			binary.LittleEndian.PutUint64(m[w:], uint64(i)+uint64(w))
			want += uint64(i) + uint64(w)
		}
		s.Commit(64)
	}
	req.Send(ctx, nil)
	if _, err := resp.Recv(ctx, buf); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n, sum := binary.LittleEndian.Uint64(buf), binary.LittleEndian.Uint64(buf[8:]); n != uint64(b.N) || sum != want {
		b.Fatalf("the consumer read %d messages summing to %d, want %d summing to %d", n, sum, b.N, want)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkRingUncontendedBatch is BenchmarkRingUncontended by batches of
// 32 (TrySendBatch, TryRecvBatch), per message.
func BenchmarkRingUncontendedBatch(b *testing.B) {
	const n = 32
	r := newTestRing(b, 64, 64)
	msgs, bufs := make([][]byte, n), make([][]byte, n)
	for i := range msgs {
		msgs[i], bufs[i] = make([]byte, 64), make([]byte, 64)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.TrySendBatch(msgs)
		r.TryRecvBatch(bufs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
}

// benchBatch is the batch size of the batch benchmarks.
const benchBatch = 32

// benchRingDrainBatch drains req with RecvBatch and answers a 0-byte
// message with the count of messages and the sum of their first words.
func benchRingDrainBatch(t *testing.T, req, resp *Ring) {
	ctx := testproc.Context(t, 100*time.Second)
	bufs := make([][]byte, benchBatch)
	for i := range bufs {
		bufs[i] = make([]byte, 64)
	}
	count, sum := uint64(0), uint64(0)
	for {
		for i := range bufs {
			bufs[i] = bufs[i][:cap(bufs[i])]
		}
		n, err := req.RecvBatch(ctx, bufs)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range bufs[:n] {
			if len(m) == 0 {
				var out [16]byte
				binary.LittleEndian.PutUint64(out[:], count)
				binary.LittleEndian.PutUint64(out[8:], sum)
				if err := resp.Send(ctx, out[:]); err != nil {
					t.Fatal(err)
				}
				return
			}
			sum += binary.LittleEndian.Uint64(m)
			count++
		}
	}
}

// BenchmarkRingThroughputBatch is BenchmarkRingThroughput/64B by
// batches of 32 at both ends (SendBatch, RecvBatch into buffers of 64
// bytes).
func BenchmarkRingThroughputBatch(b *testing.B) {
	req, resp, wait := benchRingPair(b, "ring-drain-batch")
	defer wait()
	ctx := testproc.Context(b, 100*time.Second)
	msgs := make([][]byte, benchBatch)
	for i := range msgs {
		msgs[i] = make([]byte, 64)
	}
	buf := make([]byte, 16)
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	want := uint64(0)
	for i := 0; i < b.N; i += benchBatch {
		k := min(benchBatch, b.N-i)
		for j, m := range msgs[:k] {
			binary.LittleEndian.PutUint64(m, uint64(i+j))
			want += uint64(i + j)
		}
		if _, err := req.SendBatch(ctx, msgs[:k]); err != nil {
			b.Fatal(err)
		}
	}
	req.Send(ctx, nil)
	if _, err := resp.Recv(ctx, buf); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n, sum := binary.LittleEndian.Uint64(buf), binary.LittleEndian.Uint64(buf[8:]); n != uint64(b.N) || sum != want {
		b.Fatalf("the consumer read %d messages summing to %d, want %d summing to %d", n, sum, b.N, want)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
