package memfile

import (
	"reflect"
	"strings"
	"testing"
)

type plainMsg struct {
	Seq   uint64
	Kind  [4]byte
	Inner struct {
		X, Y float64
		OK   bool
	}
	Hist [8]int32
}

type withString struct {
	A     uint32
	Inner struct{ Name string }
}

type withSlice struct{ Items [2]struct{ B []byte } }

type withInt struct{ N int }

type withPtr struct{ P *uint64 }

type withIface struct{ V any }

func TestCheckPlain(t *testing.T) {
	if err := checkPlain(reflect.TypeFor[plainMsg]()); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		err     error
		mention string
	}{
		{checkPlain(reflect.TypeFor[withString]()), "field Inner.Name (string)"},
		{checkPlain(reflect.TypeFor[withSlice]()), "field Items[].B ([]uint8)"},
		{checkPlain(reflect.TypeFor[withInt]()), "field N (int)"},
		{checkPlain(reflect.TypeFor[withPtr]()), "field P (*uint64)"},
		{checkPlain(reflect.TypeFor[withIface]()), "field V (interface {})"},
		{checkPlain(reflect.TypeFor[map[int]int]()), "the type itself"},
		{checkPlain(reflect.TypeFor[chan int]()), "the type itself"},
		{checkPlain(reflect.TypeFor[func()]()), "the type itself"},
	}
	for _, c := range bad {
		if c.err == nil || !strings.Contains(c.err.Error(), c.mention) {
			t.Errorf("checkPlain error %v, want one naming %q", c.err, c.mention)
		}
	}
	// The verdict is cached: a second check returns the same error.
	if a, b := checkPlain(reflect.TypeFor[withString]()), checkPlain(reflect.TypeFor[withString]()); a != b {
		t.Errorf("second check returned a different error: %v vs %v", a, b)
	}
}

func TestViewSlice(t *testing.T) {
	link := tempLink(t)
	f := mustCreate(t, link, LockMutex, 100)
	m, err := View[plainMsg](f)
	if err != nil {
		t.Fatal(err)
	}
	m.Seq = 7
	m.Inner.X = 1.5
	g, err := Open(link)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	n, err := View[plainMsg](g)
	if err != nil || n.Seq != 7 || n.Inner.X != 1.5 {
		t.Fatalf("View in the opener: %+v, %v", n, err)
	}
	s, err := Slice[uint64](g)
	if err != nil || len(s) != 100/8 || s[0] != 7 {
		t.Fatalf("Slice[uint64]: len %d, %v", len(s), err)
	}
	if _, err := View[withString](f); err == nil || !strings.Contains(err.Error(), "Inner.Name") {
		t.Fatalf("View[withString] = %v, want an error naming Inner.Name", err)
	}
	if _, err := Slice[withPtr](f); err == nil || !strings.Contains(err.Error(), "field P") {
		t.Fatalf("Slice[withPtr] = %v, want an error naming P", err)
	}
	if _, err := View[[200]byte](f); err == nil {
		t.Fatal("View of a type larger than the data succeeded")
	}
	if _, err := Slice[struct{}](f); err == nil {
		t.Fatal("Slice of a zero-size type succeeded")
	}
}
