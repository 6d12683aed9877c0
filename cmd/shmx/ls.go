package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/shmx/shmx/memfile"
)

func runLs(args []string) error {
	fs := flag.NewFlagSet("shmx ls", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: shmx ls\n\n"+
			"Lists the shmx segments on this machine (files of the shm directory that\n"+
			"start with a memfile header) with size, lock type, creator (its token and\n"+
			"pid, and whether the kernel vouches that it is alive), and age. Only\n"+
			"headers are read; nothing is mapped or joined.\n"+
			"Raw segments (CreateRaw) have no header and are not listed.\n")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return ls(os.Stdout, time.Now())
}

// ls prints one line per segment to w.
func ls(w io.Writer, now time.Time) error {
	segs, err := listSegments()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SEGMENT\tSIZE\tLOCK\tEVENTS\tCREATOR\tAGE")
	for _, s := range segs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.osid, size(uint64(s.size)), lockName(s), events(s), creatorCol(s), age(s, now))
	}
	return tw.Flush()
}

// lockName is the lock type without the "Lock" prefix, or why the header
// is not valid.
func lockName(s *segment) string {
	if s.err != nil {
		return "corrupt: " + s.err.Error()
	}
	switch s.hdr.Lock {
	case memfile.LockNone:
		return "none"
	case memfile.LockMutex:
		return "Mutex"
	case memfile.LockRWMutex:
		return "RWMutex"
	}
	return s.hdr.Lock.String()
}

func events(s *segment) string {
	if s.err != nil {
		return "-"
	}
	return fmt.Sprint(s.hdr.Events)
}

func creatorCol(s *segment) string {
	if s.err != nil {
		return "-"
	}
	return s.creator()
}

// age is the time since the segment file was last modified: set when
// its creator sized it (stores through a mapping do not change it on tmpfs).
func age(s *segment, now time.Time) string {
	if s.mtime.IsZero() {
		return "-"
	}
	return now.Sub(s.mtime).Round(time.Second).String()
}
