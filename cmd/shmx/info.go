package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/memfile"
)

func runInfo(args []string) error {
	fs := flag.NewFlagSet("shmx info", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: shmx info [-broadcast offsets] <link-file | segment-name>\n\n"+
			"Prints the header of a segment, the processes that have it open (its\n"+
			"participant table: token, pid, pid namespace, alive or dead), and the state\n"+
			"of its lock and events: held or not, by which process, waiters. Processes\n"+
			"are named by token, as lock words name them; alive or dead is the kernel's\n"+
			"word (the liveness lock each process holds on the segment's file), never a\n"+
			"guess from a pid. Read-only: the segment's bytes are read (or, where segments\n"+
			"are not files, mapped read-only), never written, and this command joins nothing.\n"+
			"With -broadcast, also the memfile.Broadcast at each data offset given.\n\n")
		fs.PrintDefaults()
	}
	bcast := fs.String("broadcast", "", "data `offsets` (comma-separated) of memfile.Broadcast rings to describe")
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageError{fmt.Errorf("want one link file or segment name, have %d arguments", fs.NArg())}
	}
	offs, err := parseOffsets(*bcast)
	if err != nil {
		return usageError{err}
	}
	if err := info(os.Stdout, fs.Arg(0)); err != nil || len(offs) == 0 {
		return err
	}
	return broadcastInfo(os.Stdout, fs.Arg(0), offs)
}

// parseErr passes -h through and makes any other flag error a usage error.
func parseErr(err error) error {
	if err == flag.ErrHelp {
		return err
	}
	return usageError{err}
}

// info prints the description of the segment arg names to w.
func info(w io.Writer, arg string) error {
	osid, link, err := resolve(arg)
	if err != nil {
		return err
	}
	s, err := readSegment(osid)
	if err != nil {
		return err
	}
	if s.err != nil {
		return fmt.Errorf("segment %s (%d bytes): %w", osid, s.size, s.err)
	}
	facts := []fact{{"segment", osid}}
	if link != "" {
		facts = append(facts, fact{"link", link})
	}
	h := s.hdr
	facts = append(facts,
		fact{"size", fmt.Sprintf("%d bytes: %d of data at offset %d", s.size, h.DataSize, h.DataOffset)},
		fact{"layout", fmt.Sprintf("version %d, %d-byte header", h.Version, h.HeaderSize)},
		fact{"creator", s.creator()},
	)
	facts = append(facts, participantFacts(s)...)
	facts = append(facts, lockFacts(s)...)
	facts = append(facts, eventFacts(s)...)
	return printFacts(w, facts)
}

// participantFacts lists the participant table: one line per listed
// process, by token, with its pid, its pid namespace and whether the
// kernel vouches for it. Entries are never cleared, so processes that left
// or died stay listed (dead) until a newcomer takes their entry.
func participantFacts(s *segment) []fact {
	h := s.hdr
	head := fmt.Sprintf("%d listed (table of %d)", len(s.parts), h.Participants)
	if len(s.parts) == h.Participants {
		head += ": full, later processes are not listed"
	}
	out := []fact{{"participants", head}}
	own := live.Namespace()
	for _, p := range s.parts {
		ns := "pid namespace unknown"
		if p.Namespace != 0 {
			ns = fmt.Sprintf("pid namespace %d", p.Namespace)
			if p.Namespace == own {
				ns += " (this one's)"
			}
		}
		role := ""
		if p.Token == h.CreatorToken {
			role = ", creator"
		}
		out = append(out, fact{fmt.Sprintf("  %08x", p.Token),
			fmt.Sprintf("pid %d, %s: %s%s", p.PID, ns, s.verdict(p.Token), role)})
	}
	return out
}

// lockFacts decodes the lock at the header's lock offset.
func lockFacts(s *segment) []fact {
	switch s.hdr.Lock {
	case memfile.LockMutex:
		return []fact{{"lock", "Mutex: " + mutexState(s)}}
	case memfile.LockRWMutex:
		lines := rwMutexState(s)
		out := []fact{{"lock", "RWMutex"}}
		for _, l := range lines {
			out = append(out, fact{"", l})
		}
		return out
	}
	return []fact{{"lock", "none"}}
}

// eventFacts decodes each event (the first 32; a count for the rest).
func eventFacts(s *segment) []fact {
	h := s.hdr
	out := []fact{{"events", fmt.Sprint(h.Events)}}
	for i := range min(h.Events, 32) {
		off := h.EventOffset + i*h.EventStride
		out = append(out, fact{fmt.Sprintf("  event %d", i), eventState(s.prefix[off:])})
	}
	if h.Events > 32 {
		out = append(out, fact{"", fmt.Sprintf("(%d more)", h.Events-32)})
	}
	return out
}
