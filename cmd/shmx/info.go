package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/shmx/shmx/memfile"
)

func runInfo(args []string) error {
	fs := flag.NewFlagSet("shmx info", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: shmx info <link-file | segment-name>\n\n"+
			"Prints the header of a segment and the state of its lock and events: held\n"+
			"or not, by which process (alive or dead), waiters. Read-only: the segment's\n"+
			"bytes are read (or, where segments are not files, mapped read-only), never written.\n")
	}
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageError{fmt.Errorf("want one link file or segment name, have %d arguments", fs.NArg())}
	}
	return info(os.Stdout, fs.Arg(0))
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
		fact{"creator", who(h.CreatorPID, h.CreatorStart)},
	)
	facts = append(facts, lockFacts(s)...)
	facts = append(facts, eventFacts(s)...)
	return printFacts(w, facts)
}

// lockFacts decodes the lock at the header's lock offset.
func lockFacts(s *segment) []fact {
	h := s.hdr
	switch h.Lock {
	case memfile.LockMutex:
		return []fact{{"lock", "Mutex: " + mutexState(s.prefix[h.LockOffset:])}}
	case memfile.LockRWMutex:
		lines := rwMutexState(s.prefix[h.LockOffset:])
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
