package memfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestParseLink(t *testing.T) {
	ok := "shmx-link v1\nosid shmx_12_abcdef012345\nsize 4096\n"
	if l, err := ParseLink([]byte(ok)); err != nil || l.OSID != "shmx_12_abcdef012345" || l.Size != 4096 {
		t.Fatalf("ParseLink(valid) = %+v, %v", l, err)
	}
	bad := []struct {
		name, in string
		want     error
		mention  string
	}{
		{"empty", "", ErrCorrupt, "newline"},
		{"no final newline", strings.TrimSuffix(ok, "\n"), ErrCorrupt, "newline"},
		{"too long", ok + strings.Repeat("x", maxLinkLen), ErrCorrupt, "bytes"},
		{"other magic", "hello\nosid a\nsize 1\n", ErrCorrupt, "first line"},
		{"other version", "shmx-link v2\nosid a\nsize 1\n", ErrVersion, "format"},
		{"missing size", "shmx-link v1\nosid a\n", ErrCorrupt, "lines"},
		{"extra line", ok + "x\n", ErrCorrupt, "lines"},
		{"blank line", "shmx-link v1\n\nosid a\nsize 1\n", ErrCorrupt, "lines"},
		{"crlf", "shmx-link v1\r\nosid a\r\nsize 1\r\n", ErrCorrupt, "first line"},
		{"empty osid", "shmx-link v1\nosid \nsize 1\n", ErrCorrupt, "osid"},
		{"slash in osid", "shmx-link v1\nosid ../x\nsize 1\n", ErrCorrupt, "osid"},
		{"space in osid", "shmx-link v1\nosid a b\nsize 1\n", ErrCorrupt, "osid"},
		{"leading dot osid", "shmx-link v1\nosid .a\nsize 1\n", ErrCorrupt, "osid"},
		{"long osid", "shmx-link v1\nosid " + strings.Repeat("a", maxOSIDLen+1) + "\nsize 1\n", ErrCorrupt, "osid"},
		{"nul in osid", "shmx-link v1\nosid a\x00\nsize 1\n", ErrCorrupt, "osid"},
		{"zero size", "shmx-link v1\nosid a\nsize 0\n", ErrCorrupt, "size"},
		{"leading zero", "shmx-link v1\nosid a\nsize 01\n", ErrCorrupt, "size"},
		{"negative size", "shmx-link v1\nosid a\nsize -1\n", ErrCorrupt, "size"},
		{"plus size", "shmx-link v1\nosid a\nsize +1\n", ErrCorrupt, "size"},
		{"hex size", "shmx-link v1\nosid a\nsize 0x10\n", ErrCorrupt, "size"},
		{"huge size", "shmx-link v1\nosid a\nsize 9223372036854775807\n", ErrCorrupt, "size"},
		{"overflow size", "shmx-link v1\nosid a\nsize 99999999999999999999\n", ErrCorrupt, "size"},
		{"swapped lines", "shmx-link v1\nsize 1\nosid a\n", ErrCorrupt, "osid"},
	}
	for _, c := range bad {
		_, err := ParseLink([]byte(c.in))
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: ParseLink(%q) = %v, want %v mentioning %q", c.name, c.in, err, c.want, c.mention)
		}
	}
}

func TestLinkRoundTrip(t *testing.T) {
	for range 100 {
		l := LinkInfo{OSID: newOSID(), Size: 1 << 40}
		if len(l.OSID) > 28 {
			t.Fatalf("newOSID() = %q, longer than 28 bytes", l.OSID)
		}
		got, err := ParseLink(l.encode())
		if err != nil || got != l {
			t.Fatalf("ParseLink(encode(%+v)) = %+v, %v", l, got, err)
		}
	}
}

// TestWriteLinkRace checks that of many goroutines publishing one link
// path, exactly one succeeds, every other gets fs.ErrExist, the file holds
// the winner's content, and no temporary file is left behind.
func TestWriteLinkRace(t *testing.T) {
	dir := tempDir(t)
	path := filepath.Join(dir, "race.link")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = newOSID()
		wg.Go(func() { errs[i] = writeLink(path, LinkInfo{OSID: ids[i], Size: 1}, 0o600, false) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("two winners: %d and %d", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, fs.ErrExist):
			t.Fatalf("loser %d: %v, want fs.ErrExist", i, err)
		case !strings.Contains(err.Error(), path):
			t.Errorf("loser %d: %v does not name %s", i, err, path)
		}
	}
	if winner < 0 {
		t.Fatal("no winner")
	}
	l, err := readLink(path)
	if err != nil || l.OSID != ids[winner] {
		t.Fatalf("readLink = %+v, %v; want the winner's %s", l, err, ids[winner])
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want just the link: %v", len(ents), ents)
	}
}

func TestWriteLinkReplace(t *testing.T) {
	path := filepath.Join(tempDir(t), "x.link")
	if err := writeLink(path, LinkInfo{OSID: "a", Size: 1}, 0o600, false); err != nil {
		t.Fatal(err)
	}
	if err := writeLink(path, LinkInfo{OSID: "b", Size: 2}, 0o600, true); err != nil {
		t.Fatal(err)
	}
	if l, err := readLink(path); err != nil || l.OSID != "b" {
		t.Fatalf("after replace: %+v, %v", l, err)
	}
	// removeLink leaves a link that names another segment alone.
	if err := removeLink(path, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("removeLink removed a link naming another segment: %v", err)
	}
	if err := removeLink(path, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("removeLink kept its own link: %v", err)
	}
}

func TestReadLinkCorrupt(t *testing.T) {
	path := filepath.Join(tempDir(t), "bad.link")
	os.WriteFile(path, []byte(strings.Repeat("z", 10000)), 0o600)
	_, err := readLink(path)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("readLink(garbage) = %v, want ErrCorrupt naming %s", err, path)
	}
}
