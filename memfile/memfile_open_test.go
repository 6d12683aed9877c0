package memfile

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shmx/shmx/shm"
)

// halfCreated makes what a creator that has not finished leaves: a
// segment with a complete header whose state is still "initialising",
// and a link naming it. It returns the raw mapping.
func halfCreated(t *testing.T, link string) []byte {
	t.Helper()
	h := layoutFor(LockMutex, 1)
	h.DataSize, h.CreatorPID, h.CreatorToken = 64, 1, 1
	osid := newOSID()
	seg, err := shm.Create(osid, int64(h.DataOffset+h.DataSize))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Remove(); seg.Close() })
	encodeHeader(seg.Bytes(), h)
	if err := writeLink(link, LinkInfo{OSID: osid, Size: seg.Size()}, 0o600, false); err != nil {
		t.Fatal(err)
	}
	return seg.Bytes()
}

// TestOpenWaitsForCreator: Open of a header still being written waits for
// the ready mark, and fails with ErrNotReady if it never comes.
func TestOpenWaitsForCreator(t *testing.T) {
	link := tempLink(t)
	b := halfCreated(t, link)
	_, err := Open(link, WithOpenTimeout(30*time.Millisecond))
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), link) {
		t.Fatalf("Open of a header never marked ready = %v, want ErrNotReady naming the link", err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		markReady(b)
	}()
	f, err := Open(link, WithOpenTimeout(time.Minute))
	if err != nil {
		t.Fatalf("Open of a header marked ready while waiting: %v", err)
	}
	defer f.Close()
	if _, err := f.Event(0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Event(1); err == nil {
		t.Fatal("Event(1) of a 1-event header succeeded")
	}
}

// TestOpenCorruptHeader: a header field damaged in the segment is reported
// by Open with the right sentinel, the field's name and the link path.
func TestOpenCorruptHeader(t *testing.T) {
	cases := []struct {
		off   int
		val   uint32
		want  error
		field string
	}{
		{offVersion, 9, ErrVersion, "version"},
		{offLockSize, 1, ErrCorrupt, "lock size"},
		{offChecksum, 1, ErrCorrupt, "checksum"},
		{offState, 3, ErrCorrupt, "init state"},
	}
	for _, c := range cases {
		link := tempLink(t)
		f := mustCreate(t, link, LockMutex, 64)
		binary.LittleEndian.PutUint32(f.mapping[c.off:], c.val)
		_, err := Open(link)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), link) {
			t.Errorf("%s: Open = %v; want %v naming %q and the link", c.field, err, c.want, c.field)
		}
	}
}

// TestOpenLinkSizeMismatch: a link whose size disagrees with the segment
// (the segment was replaced behind it) is corrupt.
func TestOpenLinkSizeMismatch(t *testing.T) {
	link := tempLink(t)
	f := mustCreate(t, link, LockNone, 64)
	if err := writeLink(link, LinkInfo{OSID: f.OSID(), Size: 1 << 30}, 0o600, true); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(link); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
}

func TestOpenMissingLink(t *testing.T) {
	link := tempLink(t)
	_, err := Open(link)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), link) {
		t.Fatalf("Open of a missing link = %v", err)
	}
}

func TestCreateArguments(t *testing.T) {
	link := tempLink(t)
	for _, c := range []struct {
		lt   LockType
		size int
		opts []Option
	}{
		{LockType(3), 64, nil},
		{LockNone, 0, nil},
		{LockNone, -1, nil},
		{LockNone, 64, []Option{WithEvents(-1)}},
		{LockNone, 64, []Option{WithEvents(MaxEvents + 1)}},
	} {
		if f, err := Create(link, c.lt, c.size, c.opts...); err == nil {
			f.Close()
			t.Errorf("Create(%v, %d) succeeded", c.lt, c.size)
		}
	}
	if fileExists(link) {
		t.Fatal("a failed Create left a link")
	}
}

func TestReadOnly(t *testing.T) {
	for _, lt := range []LockType{LockNone, LockMutex} {
		link := tempLink(t)
		f := mustCreate(t, link, lt, 64, WithEvents(1))
		f.Write(func(b []byte) error { copy(b, "ro"); return nil })
		g, err := Open(link, WithReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		if string(g.Bytes()[:2]) != "ro" {
			t.Errorf("%v: read-only Bytes = %q", lt, g.Bytes()[:2])
		}
		called := false
		if err := g.Write(func([]byte) error { called = true; return nil }); !errors.Is(err, fs.ErrPermission) || called {
			t.Errorf("%v: read-only Write = %v (fn called %v), want fs.ErrPermission", lt, err, called)
		}
		if _, err := g.Event(0); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%v: read-only Event = %v, want fs.ErrPermission", lt, err)
		}
		err = g.Read(func([]byte) error { return nil })
		if lt == LockNone && err != nil || lt != LockNone && !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%v: read-only Read = %v", lt, err)
		}
		g.Close()
	}
}

func TestPerm(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no permission bits")
	}
	link := tempLink(t)
	f := mustCreate(t, link, LockNone, 64, WithPerm(0o640))
	if fi, err := os.Stat(link); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("link file mode %v, %v; want 0640", fi.Mode().Perm(), err)
	}
	if runtime.GOOS == "linux" {
		if fi, err := os.Stat("/dev/shm/" + f.OSID()); err != nil || fi.Mode().Perm() != 0o640 {
			t.Fatalf("segment mode %v, %v; want 0640", fi.Mode().Perm(), err)
		}
	}
}

// TestSegmentOptions: a file-backed segment (shm.WithFile) works through a
// link when both sides pass the option, and the owner's Close removes the
// file too.
func TestSegmentOptions(t *testing.T) {
	dir := tempDir(t)
	link := tempLink(t)
	opt := WithSegmentOptions(shm.WithFile(dir))
	f := mustCreate(t, link, LockMutex, 64, opt)
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("segment directory holds %d entries, want the segment file", len(ents))
	}
	g, err := Open(link, opt)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	f.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("owner's Close left %v", ents)
	}
}
