package memfile

import (
	"encoding/binary"
	sw "github.com/shmx/shmx/internal/word"
	"os"
	"unsafe"

	"github.com/shmx/shmx/internal/live"
)

// The participant table of a header (since version 2) lists the processes that
// have the segment open for writing, so that inspection tools can say who
// holds what: lock words name processes by token (internal/live), and a
// token says nothing to a person. The table is for showing only: no lock
// trusts it, liveness is the kernel's word (live.Probe), and a process
// that finds the table full is simply not listed.
//
// Entry layout (ParticipantSize = 16 bytes, little-endian):
//
//	offset size meaning
//	0      4    token, 0 for a free entry
//	4      4    pid, in the participant's own pid namespace
//	8      8    pid namespace (inode of /proc/<pid>/ns/pid), 0 if unknown
//
// Transitions of an entry, each by the process named:
//
//	from                          to                  when
//	0, or a token judged dead     own token (CAS)     Open/Create, no entry of its own
//	own token                     pid, namespace set  right after
//	own token                     pid, namespace set  Open/Create, entry of its own found
//
// An entry is never cleared: once its process has left or died the
// kernel says so, and the next newcomer takes the entry.
const (
	// ParticipantSize is the size of one participant entry.
	ParticipantSize = 16
	// maxParticipants is how many entries a header has (versions 2 and 3).
	maxParticipants = 64
)

// Participant is one entry of a segment's participant table.
type Participant struct {
	Token     uint32 // what lock words call the process (internal/live)
	PID       uint32 // its pid, in its own pid namespace
	Namespace uint64 // its pid namespace (Linux: the ns inode), 0 if unknown
}

// participantTable is the table of a mapped header.
type participantTable struct {
	b []byte // the whole table, h.Participants entries
	f *MemFile
}

func (f *MemFile) participants() participantTable {
	off := f.hdr.ParticipantOffset
	return participantTable{b: f.mapping[off : off+f.hdr.Participants*ParticipantSize], f: f}
}

// token returns the atomic token word of entry i. Legal: the table lies in
// the mapping at a 128-aligned offset, so every entry's first word is
// 4-byte aligned and in bounds.
func (t participantTable) token(i int) *sw.Uint32 {
	return (*sw.Uint32)(unsafe.Pointer(&t.b[i*ParticipantSize]))
}

// enter lists this process in the table (see the transitions above).
func (t participantTable) enter() {
	n := len(t.b) / ParticipantSize
	for i := range n {
		if t.token(i).Load() == self() {
			t.fill(i)
			return
		}
	}
	for i := range n {
		w := t.token(i)
		old := w.Load()
		if (old == 0 || t.f.dom.Judge(old) == live.Dead) && w.CompareAndSwap(old, self()) {
			t.fill(i)
			return
		}
	}
}

// fill writes this process's pid and namespace into entry i, which it
// owns. Other processes may read them half-written: the table is for
// showing only.
func (t participantTable) fill(i int) {
	e := t.b[i*ParticipantSize:]
	binary.LittleEndian.PutUint32(e[4:], uint32(os.Getpid()))
	binary.LittleEndian.PutUint64(e[8:], live.Namespace())
}

// ParseParticipants returns the non-free entries of the participant table
// of a segment whose header h was validated by ParseHeader or
// ParseHeaderPrefix; b holds the segment's first bytes (at least up to
// the end of the table, or the table is reported empty). It never panics.
func ParseParticipants(b []byte, h HeaderInfo) []Participant {
	end := h.ParticipantOffset + h.Participants*ParticipantSize
	if h.Participants <= 0 || h.ParticipantOffset < hdrSize || end > len(b) {
		return nil
	}
	var ps []Participant
	le := binary.LittleEndian
	for off := h.ParticipantOffset; off < end; off += ParticipantSize {
		e := b[off : off+ParticipantSize]
		if tok := le.Uint32(e); tok != 0 {
			ps = append(ps, Participant{Token: tok, PID: le.Uint32(e[4:]), Namespace: le.Uint64(e[8:])})
		}
	}
	return ps
}

// Participants returns the processes listed in f's participant table,
// this one included (none for a raw segment, or after Close).
func (f *MemFile) Participants() []Participant {
	if f.hdr.Participants == 0 || f.closed.Load() {
		return nil
	}
	return ParseParticipants(f.mapping, f.hdr)
}

// ProcessAlive says whether the process behind token is alive, as the
// kernel vouches for it in f's segment: it is what every lock of f
// believes. "unknown" means nothing vouches (other systems), which the
// locks treat as alive.
func (f *MemFile) ProcessAlive(token uint32) string {
	if f.dom == nil || f.closed.Load() {
		return live.Unknown.String()
	}
	return f.dom.Judge(token).String()
}
