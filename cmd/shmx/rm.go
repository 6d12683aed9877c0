package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/memfile"
	"github.com/shmx/shmx/shm"
)

type rmConfig struct {
	stale, dryRun bool
	args          []string
	// only, if set, limits -stale to the segments it accepts: tests use it
	// so as not to remove segments of other programs running meanwhile.
	only func(osid string) bool
}

func runRm(args []string) error {
	fs := flag.NewFlagSet("shmx rm", flag.ContinueOnError)
	var c rmConfig
	fs.BoolVar(&c.stale, "stale", false, "remove every segment whose creator the kernel says is dead, that no listed participant is alive in, and that no live process maps (Linux)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "say what would be removed, remove nothing")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: shmx rm [-dry-run] <link-file | segment-name>...\n"+
			"       shmx rm -stale [-dry-run]\n\n"+
			"Removes segments (and the link files given). Processes that have a segment\n"+
			"mapped keep their mapping; the memory is freed when the last one unmaps.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	c.args = fs.Args()
	if c.stale == (len(c.args) > 0) {
		fs.Usage()
		return usageError{errors.New("give either -stale or segments to remove, not both or neither")}
	}
	return rm(os.Stdout, c)
}

// rm removes what c names and reports each removal to w.
func rm(w io.Writer, c rmConfig) error {
	if c.stale {
		return rmStale(w, c.dryRun, c.only)
	}
	for _, a := range c.args {
		if err := rmOne(w, a, c.dryRun); err != nil {
			return err
		}
	}
	return nil
}

// rmOne removes the segment arg names and, if arg is a link file, the link.
// It refuses a segment that does not start with an shmx header, which
// another program may own.
func rmOne(w io.Writer, arg string, dryRun bool) error {
	osid, link, err := resolve(arg)
	if err != nil {
		return err
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	s, err := readSegment(osid)
	switch {
	case errors.Is(err, fs.ErrNotExist) && link != "":
		fmt.Fprintf(w, "segment %s is already gone\n", osid)
	case err != nil:
		return err
	case !isShmx(s.prefix):
		return fmt.Errorf("%s is not an shmx segment (no memfile header); not removed", osid)
	default:
		note := ""
		if s.err == nil && s.verdict(s.hdr.CreatorToken) == live.Alive {
			note = fmt.Sprintf(" (its creator, token %08x, pid %d, is alive: its mappings stay valid)", s.hdr.CreatorToken, s.hdr.CreatorPID)
		} else if p, ok := liveParticipant(s); ok && s.verdict(p.Token) == live.Alive {
			note = fmt.Sprintf(" (participant token %08x, pid %d, is alive: its mappings stay valid)", p.Token, p.PID)
		}
		if !dryRun {
			if err := shm.Remove(osid); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "%s segment %s%s\n", verb, osid, note)
	}
	if link != "" {
		if !dryRun {
			if err := os.Remove(link); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "%s link %s\n", verb, link)
	}
	return nil
}

// rmStale removes the segments whose creator is dead and that nobody
// uses. Dead is the kernel's word (live.Probe of the creator's token: its
// liveness lock on the segment's file is gone), never a pid's absence: a
// pid means nothing in another pid namespace and is reused. A segment
// stays when its creator is alive or nothing vouches either way, when a
// participant it lists is not known to be dead (it may run in another
// pid namespace, where /proc does not show it), when a process this user
// can see maps it, or when its header is corrupt (no creator to judge).
func rmStale(w io.Writer, dryRun bool, only func(string) bool) error {
	segs, err := listSegments()
	if err != nil {
		return err
	}
	dead := map[string]bool{}
	for _, s := range segs {
		if s.err != nil || (only != nil && !only(s.osid)) {
			continue
		}
		if s.verdict(s.hdr.CreatorToken) != live.Dead {
			continue
		}
		if p, ok := liveParticipant(s); ok {
			fmt.Fprintf(w, "keeping %s: %s is dead but participant %s is not\n", s.osid, deadCreator(s), s.who(p.Token))
			continue
		}
		dead[s.osid] = true
	}
	mapped, unread, err := mappers(dead)
	if err != nil {
		return err
	}
	if unread > 0 {
		fmt.Fprintf(w, "note: %d process(es) whose mappings this user cannot read were not checked\n", unread)
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	for _, s := range segs {
		if !dead[s.osid] {
			continue
		}
		if pids := mapped[s.osid]; len(pids) > 0 {
			fmt.Fprintf(w, "keeping %s: %s is dead but pid(s) %s map it\n", s.osid, deadCreator(s), pidList(pids))
			continue
		}
		if !dryRun {
			if err := shm.Remove(s.osid); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		fmt.Fprintf(w, "%s %s (%s, %s dead, no live participant, not mapped)\n", verb, s.osid, size(uint64(s.size)), deadCreator(s))
	}
	return nil
}

// deadCreator names the creator of s, which the kernel said is dead.
func deadCreator(s *segment) string {
	return fmt.Sprintf("creator token %08x (pid %d)", s.hdr.CreatorToken, s.hdr.CreatorPID)
}

// liveParticipant returns a participant of s that the kernel did not say
// is dead (alive, or unknown).
func liveParticipant(s *segment) (memfile.Participant, bool) {
	for _, p := range s.parts {
		if s.verdict(p.Token) != live.Dead {
			return p, true
		}
	}
	return memfile.Participant{}, false
}

func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ", ")
}
