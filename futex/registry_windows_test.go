package futex

import (
	"strings"
	"testing"
	"unsafe"
)

// TestSemName checks that semaphore names are deterministic, stay in a
// valid namespace with no further backslash, keep distinct names distinct
// and stay short whatever the object name.
func TestSemName(t *testing.T) {
	long := strings.Repeat("x", 1000)
	cases := []struct {
		name   string
		off    uintptr
		prefix string
	}{
		{"seg", 0, `Local\shmx-futex-seg-`},
		{`Local\shmx-seg`, 64, `Local\shmx-futex-Local_shmx-seg-`},
		{`global\seg`, 8, `Global\shmx-futex-global_seg-`},
		{long, 4, `Local\shmx-futex-` + long[:64] + "-"},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		got := semName(c.name, c.off)
		if got != semName(c.name, c.off) {
			t.Errorf("semName(%.20q) not deterministic", c.name)
		}
		if !strings.HasPrefix(got, c.prefix) {
			t.Errorf("semName(%.20q, %d) = %q, want prefix %q", c.name, c.off, got, c.prefix)
		}
		if strings.Count(got, `\`) != 1 || len(got) > 128 {
			t.Errorf("semName(%.20q) = %q: bad separator count or too long", c.name, got)
		}
		seen[got] = true
	}
	// Names that sanitise alike, and offsets, still differ.
	for _, a := range [][2]string{{`a\b`, "a_b"}, {"a b", "a_b"}} {
		if semName(a[0], 0) == semName(a[1], 0) {
			t.Errorf("semName(%q) == semName(%q)", a[0], a[1])
		}
	}
	if semName("s", 4) == semName("s", 8) {
		t.Error("offsets 4 and 8 share a semaphore")
	}
}

// TestQueueNames checks the names of the waiter queue's mapping and
// events: the object's namespace, one backslash, distinct per object and
// per slot, short enough for the longest object name.
func TestQueueNames(t *testing.T) {
	long := strings.Repeat("y", 1000)
	for _, c := range []struct{ name, prefix string }{
		{"seg", `Local\shmx-futexq1-seg-`},
		{`Global\seg`, `Global\shmx-futexq1-Global_seg-`},
		{long, `Local\shmx-futexq1-` + long[:64] + "-"},
	} {
		q := queueName(c.name)
		if !strings.HasPrefix(q, c.prefix) || strings.Count(q, `\`) != 1 || len(q) > 128 {
			t.Errorf("queueName(%.20q) = %q, want prefix %q, one backslash, at most 128 bytes", c.name, q, c.prefix)
		}
		e := queueEventName(c.name, queueSlots-1)
		if !strings.HasPrefix(e, strings.Replace(c.prefix, "futexq1", "futexe1", 1)) || strings.Count(e, `\`) != 1 || len(e) > 128 {
			t.Errorf("queueEventName(%.20q) = %q", c.name, e)
		}
	}
	if queueName("a b") == queueName("a_b") {
		t.Error("names that sanitise alike share a queue")
	}
	if queueEventName("s", 1) == queueEventName("s", 16) || queueEventName("s", 1) == queueEventName("t", 1) {
		t.Error("events of distinct slots or objects share a name")
	}
}

// TestRegistry checks lookup at the edges of registered views, that a
// registration replaces overlapping ones, and Unregister.
func TestRegistry(t *testing.T) {
	buf := make([]uint32, 64) // stands in for mapped views; never waited on
	mem := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), 256)
	a, b := mem[0:64], mem[128:256]
	must(t, register(a, "A"))
	must(t, register(b, "B"))
	defer unregister(a)
	defer unregister(b)
	check := func(i int, wantName string, wantOff uintptr) {
		t.Helper()
		name, off, ok := lookup(&buf[i])
		if wantName == "" {
			if ok {
				t.Errorf("word %d: found in %q, want unregistered", i, name)
			}
			return
		}
		if !ok || name != wantName || off != wantOff {
			t.Errorf("word %d: lookup = %q, %d, %v; want %q, %d", i, name, off, ok, wantName, wantOff)
		}
	}
	check(0, "A", 0)
	check(15, "A", 60)
	check(16, "", 0)
	check(31, "", 0)
	check(32, "B", 0)
	check(63, "B", 124)

	must(t, register(mem[32:160], "C")) // overlaps both: replaces them
	check(0, "", 0)
	check(8, "C", 0)
	check(39, "C", 124)
	check(40, "", 0)
	unregister(mem[32:160])
	check(8, "", 0)
	unregister(mem[32:160]) // again: no-op
}

// TestSemaphoreLifetime checks that a cached semaphore handle survives
// Unregister while a user holds it, and is closed by the last release.
func TestSemaphoreLifetime(t *testing.T) {
	s, err := acquireSem("shmx-futex-lifetime-test", 0)
	if err != nil {
		t.Fatal(err)
	}
	dropSemaphores("shmx-futex-lifetime-test")
	if err := releaseSem(s.h, 1); err != nil {
		t.Fatalf("handle closed while in use: %v", err)
	}
	h := s.h
	s.release()
	if err := releaseSem(h, 1); err == nil {
		t.Error("handle still open after the last release")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
