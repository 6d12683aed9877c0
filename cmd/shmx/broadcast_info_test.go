package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmx/shmx/memfile"
)

// TestInfoBroadcast: info -broadcast shows the publisher's position and
// holder and each subscriber's cursor, lag and liveness.
func TestInfoBroadcast(t *testing.T) {
	cfg := memfile.BroadcastConfig{SlotSize: 32, Capacity: 4, Subscribers: 3}
	link := filepath.Join(testDir(t), "b.link")
	f, err := memfile.Create(link, memfile.LockNone, 256+memfile.BroadcastSize(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bc, err := memfile.InitBroadcast(f.Bytes()[256:], cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := bc.Publisher(nil)
	defer p.Close()
	s, _ := bc.Subscribe(memfile.StartNewest)
	defer s.Close()
	for range 6 {
		p.TryPublish([]byte("m"))
	}
	var out bytes.Buffer
	if err := broadcastInfo(&out, link, []int{256, 8}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	t.Log("\n" + got)
	for _, want := range []string{"4 slots of 32 bytes, lapping, 1 of 3 subscribers", "published     6", "publisher", "alive", "at 0, lag 6, missed 0", "broadcast @8"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if _, err := parseOffsets("12"); err == nil {
		t.Error("an unaligned offset was accepted")
	}
}
