package fuzz_test

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/shmx/shmx/memfile"
)

// FuzzParticipants feeds arbitrary bytes to memfile.ParseHeader as the
// whole mapping of a segment, as FuzzHeader does (data followed by
// tail%(maxTail+1) zero bytes, ending at a PROT_NONE page on Linux), and
// for every header it accepts reads the participant table with
// memfile.ParseParticipants: from the whole mapping, and from prefixes of
// it as a tool that read(2)s a segment's first bytes has (each prefix
// copied to memory ending at a PROT_NONE page): the fixed header alone,
// the table cut short by one byte, the table exactly, the bytes before
// the data.
//
// Property: ParseParticipants never panics and never reads outside the
// bytes it is given; it returns nothing when they end before the table
// does; otherwise it returns exactly the entries with a non-zero token,
// in table order, decoded from the documented entry layout (token, pid,
// pid namespace, little-endian), at most the table's entry count, and the
// same list from every prefix that holds the table. A header read with
// ParseHeaderPrefix from the first 128 bytes places the table alike. A
// zero HeaderInfo (a raw segment: no table) lists nobody.
func FuzzParticipants(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, tail uint32) {
		n := len(data) + int(tail%(maxTail+1))
		b := guarded(t, n)
		copy(b, data)
		if ps := memfile.ParseParticipants(b, memfile.HeaderInfo{}); ps != nil {
			t.Fatalf("ParseParticipants without a table listed %+v", ps)
		}
		h, err := memfile.ParseHeader(b)
		if err != nil {
			return
		}
		end := h.ParticipantOffset + h.Participants*memfile.ParticipantSize
		if h.ParticipantOffset < hdrLen || h.Participants < 0 || end > h.DataOffset || end > n {
			t.Fatalf("accepted header places the table at [%d,%d) in a %d-byte mapping, data at %d: %+v", h.ParticipantOffset, end, n, h.DataOffset, h)
		}
		want := decodeParticipants(b[h.ParticipantOffset:end])
		got := memfile.ParseParticipants(b, h)
		checkParticipants(t, "whole mapping", got, want, h)
		for _, k := range []int{hdrLen, end - 1, end, h.DataOffset} {
			if k < 0 || k > n {
				continue
			}
			p := guarded(t, k)
			copy(p, b)
			got := memfile.ParseParticipants(p, h)
			if k < end {
				if got != nil {
					t.Fatalf("ParseParticipants of a %d-byte prefix (the table ends at %d) listed %+v", k, end, got)
				}
				continue
			}
			checkParticipants(t, "prefix", got, want, h)
		}
		if h2, err := memfile.ParseHeaderPrefix(b[:hdrLen:hdrLen], int64(n)); err != nil ||
			h2.ParticipantOffset != h.ParticipantOffset || h2.Participants != h.Participants {
			t.Fatalf("ParseHeaderPrefix places the table otherwise: %+v, %v vs %+v", h2, err, h)
		}
	})
}

// decodeParticipants decodes a participant table from the documented
// entry layout, skipping free entries (token 0).
func decodeParticipants(table []byte) []memfile.Participant {
	var ps []memfile.Participant
	le := binary.LittleEndian
	for off := 0; off+memfile.ParticipantSize <= len(table); off += memfile.ParticipantSize {
		e := table[off:]
		if tok := le.Uint32(e); tok != 0 {
			ps = append(ps, memfile.Participant{Token: tok, PID: le.Uint32(e[4:]), Namespace: le.Uint64(e[8:])})
		}
	}
	return ps
}

// checkParticipants compares what ParseParticipants listed with the
// table decoded independently.
func checkParticipants(t *testing.T, what string, got, want []memfile.Participant, h memfile.HeaderInfo) {
	t.Helper()
	if len(got) > h.Participants {
		t.Fatalf("%s: %d participants listed from a table of %d", what, len(got), h.Participants)
	}
	for _, p := range got {
		if p.Token == 0 {
			t.Fatalf("%s: a free entry (token 0) listed: %+v", what, p)
		}
	}
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("%s: ParseParticipants listed %+v, the table holds %+v", what, got, want)
	}
}
