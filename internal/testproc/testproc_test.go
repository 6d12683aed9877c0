package testproc

import (
	"os"
	"testing"
)

// TestChildSeesParentWrite checks the two halves of this package together:
// a child started by Command maps the file the parent mapped with MapFile
// and reads what the parent wrote there, then writes an answer back.
func TestChildSeesParentWrite(t *testing.T) {
	if Role() == "child" {
		b := MapFile(t, os.Getenv("MAPFILE"), 4096)
		if string(b[:5]) != "hello" {
			t.Fatalf("child read %q, want hello", b[:5])
		}
		copy(b[100:], "world")
		return
	}
	// Not t.TempDir: under wine 8.0 os.RemoveAll of a directory fails,
	// which would fail the test in its cleanup.
	f, err := os.CreateTemp("", "testproc-map-*")
	if err != nil {
		t.Fatal(err)
	}
	path := f.Name()
	f.Close()
	t.Cleanup(func() { os.Remove(path) })
	b := MapFile(t, path, 4096)
	copy(b, "hello")
	cmd := Command(t, "TestChildSeesParentWrite", "child", "MAPFILE="+path)
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got := string(b[100:105]); got != "world" {
		t.Fatalf("parent read %q after child ran, want world", got)
	}
}
