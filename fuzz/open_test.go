package fuzz_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/memfile"
)

// openSeq numbers the segments FuzzOpen makes, so names never repeat.
var openSeq atomic.Uint64

// maxOpenTail bounds the zero bytes FuzzOpen appends: enough for an
// RWMutex, a few events and data.
const maxOpenTail = 1 << 16

// FuzzOpen makes a real shared-memory segment holding data followed by
// tail%(maxOpenTail+1) zero bytes (with memfile.CreateRaw), publishes a
// link file naming it with a size off by delta bytes, and opens it with
// memfile.Open, as a process that finds a segment some other process
// wrote would. If Open succeeds, it takes and releases the write and read
// sides of the lock with 1 ms deadlines, and sets, tries and resets every
// event, then closes.
//
// Property: Open fails with an error matching ErrCorrupt, ErrVersion or
// ErrNotReady (a version-1 segment: ErrVersion), inside an *fs.PathError
// naming the link, or returns a MemFile whose header is what ParseHeader
// reads from the first link-size bytes and whose Bytes are the DataSize
// bytes at DataOffset; its Participants are what ParseParticipants reads
// from the segment, with non-zero tokens only, and list this process (its
// token, pid and pid namespace) whenever the table had a free entry or
// one of this process's before Open; the lock and event operations end
// without panic (a lock word naming a token nobody holds is taken over:
// the kernel says its process is dead); Close succeeds.
func FuzzOpen(f *testing.F) {
	dir := linkDir(f)
	f.Fuzz(func(t *testing.T, data []byte, tail uint32, delta int16) {
		size := len(data) + int(tail%(maxOpenTail+1))
		if size == 0 {
			size = 1
		}
		osid := fmt.Sprintf("shmxfz_%d_%d", os.Getpid(), openSeq.Add(1))
		raw, err := memfile.CreateRaw(osid, size)
		if err != nil {
			t.Fatalf("CreateRaw(%s, %d): %v", osid, size, err)
		}
		defer raw.Close()
		copy(raw.Bytes(), data)
		room := tableHasRoom(raw.Bytes())
		linkSize := max(int64(size)+int64(delta), 1)
		link := filepath.Join(dir, osid+".link")
		if err := os.WriteFile(link, []byte(encodeLink(osid, linkSize)), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(link)
		mf, err := memfile.Open(link, memfile.WithOpenTimeout(time.Millisecond))
		if err != nil {
			checkOpenErr(t, err, link)
			return
		}
		defer func() {
			if err := mf.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
		if int64(size) < linkSize {
			t.Fatalf("Open accepted a link size %d larger than the %d-byte segment", linkSize, size)
		}
		want, err := memfile.ParseHeader(raw.Bytes()[:linkSize])
		if err != nil || mf.Header() != want {
			t.Fatalf("Open returned header %+v; ParseHeader of the same bytes: %+v, %v", mf.Header(), want, err)
		}
		if d := mf.Bytes(); len(d) != want.DataSize {
			t.Fatalf("Bytes() has %d bytes, header says %d", len(d), want.DataSize)
		} else if len(d) > 0 {
			d[0]++
			d[len(d)-1]--
		}
		checkOpenedParticipants(t, mf, raw.Bytes()[:linkSize], room)
		exerciseOpened(t, mf)
	})
}

// tableHasRoom reports whether the bytes where a version-2 header keeps
// its participant table have a free entry or one of this process's, so
// that Open must list this process there.
func tableHasRoom(b []byte) bool {
	if len(b) < partEnd {
		return false
	}
	for off := partOff; off < partEnd; off += memfile.ParticipantSize {
		if tok := binary.LittleEndian.Uint32(b[off:]); tok == 0 || tok == live.Self() {
			return true
		}
	}
	return false
}

// checkOpenedParticipants checks the participant table of an opened
// MemFile against the segment's bytes b.
func checkOpenedParticipants(t *testing.T, mf *memfile.MemFile, b []byte, room bool) {
	t.Helper()
	ps := mf.Participants()
	if want := memfile.ParseParticipants(b, mf.Header()); !reflect.DeepEqual(ps, want) {
		t.Fatalf("Participants() = %+v, ParseParticipants of the segment = %+v", ps, want)
	}
	self := false
	for _, p := range ps {
		if p.Token == 0 {
			t.Fatalf("Participants lists a free entry: %+v", p)
		}
		if p.Token == live.Self() && p.PID == uint32(os.Getpid()) && p.Namespace == live.Namespace() {
			self = true
		}
	}
	if room && !self {
		t.Fatalf("Open did not list this process (token %08x, pid %d) in a table with room: %+v", live.Self(), os.Getpid(), ps)
	}
}

// checkOpenErr checks that a failed Open says why with a sentinel and
// names the link.
func checkOpenErr(t *testing.T, err error, link string) {
	t.Helper()
	if !errors.Is(err, memfile.ErrCorrupt) && !errors.Is(err, memfile.ErrVersion) && !errors.Is(err, memfile.ErrNotReady) {
		t.Fatalf("Open error matches no sentinel: %v", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != link {
		t.Fatalf("Open error does not name the link %s: %v", link, err)
	}
}

// exerciseOpened locks, unlocks and signals what an opened MemFile holds,
// never waiting more than a millisecond per call.
func exerciseOpened(t *testing.T, mf *memfile.MemFile) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := mf.LockContext(ctx); lockErr(t, "MemFile.LockContext", err) {
		mf.Unlock()
	}
	if dirty, err := mf.LockRecover(ctx); lockErr(t, "MemFile.LockRecover", err) {
		if dirty {
			mf.MarkConsistent()
		}
		mf.Unlock()
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel2()
	if lockErr(t, "MemFile.RLockContext", mf.RLockContext(ctx2)) {
		mf.RUnlock()
	}
	for i := range mf.Header().Events {
		e, err := mf.Event(i)
		if err != nil {
			if !errors.Is(err, memfile.ErrCorrupt) {
				t.Fatalf("Event(%d) of %d: %v", i, mf.Header().Events, err)
			}
			continue
		}
		e.TryWait()
		e.Set()
		e.TryWait()
		e.Reset()
	}
}

// linkDir is f.TempDir, emptied entry by entry with os.Remove: under wine
// 8.0 Go's os.RemoveAll fails ("Invalid function") while os.Remove works.
// Each execution removes its own link file; the cleanup only catches
// those of an execution that failed half-way.
func linkDir(f testing.TB) string {
	dir, err := os.MkdirTemp("", "shmx-fuzz-open-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			os.Remove(filepath.Join(dir, e.Name()))
		}
		if err := os.Remove(dir); err != nil {
			f.Errorf("removing the link directory: %v", err)
		}
	})
	return dir
}
