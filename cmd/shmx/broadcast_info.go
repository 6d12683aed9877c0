package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unsafe"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/memfile"
	"github.com/shmx/shmx/shm"
)

// parseOffsets parses info's -broadcast list: data offsets, comma-separated.
func parseOffsets(s string) ([]int, error) {
	var offs []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseUint(f, 0, 31)
		if err != nil || n%8 != 0 {
			return nil, fmt.Errorf("-broadcast: %q is not an 8-byte aligned offset", f)
		}
		offs = append(offs, int(n))
	}
	return offs, nil
}

// broadcastInfo describes the memfile.Broadcast at each data offset of
// the segment arg names: the publisher's position and holder, and each
// subscriber's cursor, lag, missed count and liveness. The segment is
// mapped read-only (package shm, joining nothing) and the ring's bytes
// copied before they are decoded.
func broadcastInfo(w io.Writer, arg string, offs []int) error {
	osid, _, err := resolve(arg)
	if err != nil {
		return err
	}
	seg, err := shm.Open(osid, shm.WithReadOnly())
	if err != nil {
		return err
	}
	defer seg.Close()
	all := seg.Bytes()
	h, err := memfile.ParseHeaderPrefix(all, int64(len(all)))
	if err != nil {
		return err
	}
	data := all[h.DataOffset:min(len(all), h.DataOffset+int(h.DataSize))]
	var facts []fact
	for _, off := range offs {
		name := fmt.Sprintf("broadcast @%d", off)
		if off >= len(data) {
			facts = append(facts, fact{name, fmt.Sprintf("offset beyond the %d bytes of data", len(data))})
			continue
		}
		// An 8-byte aligned private copy: BroadcastAt wants aligned memory
		// and the words change under us.
		words := make([]uint64, (len(data)-off+7)/8)
		b := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(data)-off)
		copy(b, data[off:])
		bc, err := memfile.BroadcastAt(b)
		if err != nil {
			facts = append(facts, fact{name, err.Error()})
			continue
		}
		st := bc.State()
		c := st.Config
		mode := "lapping"
		if c.BackPressure {
			mode = "back-pressure"
		}
		pub := "none"
		if st.Publisher != 0 {
			pub = fmt.Sprintf("%08x: %v", st.Publisher, live.Probe(seg.Fd(), st.Publisher))
		}
		facts = append(facts,
			fact{name, fmt.Sprintf("%d slots of %d bytes, %s, %d of %d subscribers", c.Capacity, c.SlotSize, mode, len(st.Subscribers), c.Subscribers)},
			fact{"  published", fmt.Sprint(st.Published)},
			fact{"  publisher", pub},
		)
		for _, s := range st.Subscribers {
			facts = append(facts, fact{fmt.Sprintf("  sub %d", s.Entry),
				fmt.Sprintf("%08x: %v, at %d, lag %d, missed %d", s.Token, live.Probe(seg.Fd(), s.Token), s.Cursor, s.Lag, s.Missed)})
		}
	}
	return printFacts(w, facts)
}
