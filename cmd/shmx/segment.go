package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/shmx/shmx/internal/live"
	"github.com/shmx/shmx/memfile"
)

// A segment is what ls, info and rm learn about one shmx segment without
// taking part in it: its OS name, its size, a snapshot of the bytes
// before its user data (header, participant table, lock, events), and
// what the kernel said, while the segment's file was open, of every
// process those bytes name.
type segment struct {
	osid   string
	size   int64
	prefix []byte             // header, participants, lock and events, copied once
	hdr    memfile.HeaderInfo // valid when err == nil
	err    error              // why the prefix is not a valid header
	mtime  time.Time          // last modification, zero if unknown
	parts  []memfile.Participant
	// verdicts holds live.Probe's answer for each token of tokens(),
	// asked through a descriptor of the segment's file (see probe). A
	// token missing from it is Unknown: nothing vouches either way.
	verdicts map[uint32]live.Verdict
}

// hdrSize is the size of the fixed header at the start of every segment
// (memfile.HeaderInfo.HeaderSize): the first bytes read of a segment.
const hdrSize = 128

// segMagic starts every header; anything else is not an shmx segment.
var segMagic = []byte("SHMXFILE")

// prefixLen says how many bytes of a segment of total bytes to read: the
// header, participant table, lock and events before its data, as the header in first (its
// first hdrSize bytes) lays them out; just first when that is no valid
// header (newSegment parses it again and keeps the reason).
func prefixLen(first []byte, total int64) int {
	h, err := memfile.ParseHeaderPrefix(first, total)
	if err != nil {
		return len(first)
	}
	return max(h.DataOffset, len(first)) // DataOffset <= total: checked
}

// newSegment parses a prefix read by the per-OS code.
func newSegment(osid string, size int64, prefix []byte) *segment {
	s := &segment{osid: osid, size: size, prefix: prefix}
	s.hdr, s.err = memfile.ParseHeaderPrefix(prefix, size)
	if s.err == nil && len(prefix) < s.hdr.DataOffset {
		// The header changed between the two reads.
		s.err = fmt.Errorf("header changed while it was read (%d bytes read, data at %d)", len(prefix), s.hdr.DataOffset)
	}
	if s.err == nil {
		s.parts = memfile.ParseParticipants(prefix, s.hdr)
	}
	return s
}

// probe asks the kernel, through fd (an open descriptor of the segment's
// file; ignored on Windows), whether each process the prefix names is
// alive. It never joins the segment: this process takes no lock and is
// listed nowhere. The per-OS readers call it while fd is open.
func (s *segment) probe(fd uintptr) {
	s.verdicts = map[uint32]live.Verdict{}
	for _, t := range s.tokens() {
		if _, ok := s.verdicts[t]; !ok {
			s.verdicts[t] = live.Probe(fd, t)
		}
	}
}

// tokens lists the processes the prefix names: the creator, the
// participants, and the holders of the lock. None for a corrupt header.
func (s *segment) tokens() []uint32 {
	if s.err != nil {
		return nil
	}
	ts := []uint32{s.hdr.CreatorToken}
	for _, p := range s.parts {
		ts = append(ts, p.Token)
	}
	return append(ts, lockTokens(s)...)
}

// verdict is what the kernel said of token when the segment was read.
func (s *segment) verdict(token uint32) live.Verdict { return s.verdicts[token] }

// participant returns the participant table's entry for token.
func (s *segment) participant(token uint32) (memfile.Participant, bool) {
	for _, p := range s.parts {
		if p.Token == token {
			return p, true
		}
	}
	return memfile.Participant{}, false
}

// who names the process behind token, as lock words and the header do,
// with the pid the participant table gives it and whether it is alive:
// "token 1a2b3c4d, pid 42 (alive)".
func (s *segment) who(token uint32) string {
	id := fmt.Sprintf("token %08x", token)
	if p, ok := s.participant(token); ok {
		id += ", " + pidIn(p.PID, p.Namespace)
	}
	return fmt.Sprintf("%s (%s)", id, s.verdict(token))
}

// creator names the segment's creator: its token and the pid the header
// records (in the creator's pid namespace, which the participant table
// gives when the creator is listed).
func (s *segment) creator() string {
	h := s.hdr
	pid := fmt.Sprintf("pid %d", h.CreatorPID)
	if p, ok := s.participant(h.CreatorToken); ok && p.PID == h.CreatorPID {
		pid = pidIn(p.PID, p.Namespace)
	}
	return fmt.Sprintf("token %08x, %s (%s)", h.CreatorToken, pid, s.verdict(h.CreatorToken))
}

// pidIn shows a pid with its pid namespace when that is known and not
// this process's own: a pid means nothing outside its namespace.
func pidIn(pid uint32, ns uint64) string {
	if ns == 0 || ns == live.Namespace() {
		return fmt.Sprintf("pid %d", pid)
	}
	return fmt.Sprintf("pid %d in pid namespace %d", pid, ns)
}

// isShmx reports whether the prefix at least starts like a header: the
// magic. ls lists only those; a corrupt one is listed with its error.
func isShmx(prefix []byte) bool { return bytes.HasPrefix(prefix, segMagic) }

// resolve turns a command-line argument into a segment name: a link file
// (its osid line), a path inside the segment directory, or an osid.
func resolve(arg string) (osid, link string, err error) {
	data, rerr := readLink(arg)
	if rerr == nil {
		li, err := memfile.ParseLink(data)
		if err == nil {
			return li.OSID, arg, nil
		}
		if dir, derr := segmentDir(); derr == nil && filepath.Dir(filepath.Clean(arg)) == dir {
			return filepath.Base(arg), "", nil
		}
		return "", "", &fs.PathError{Op: "read link", Path: arg, Err: err}
	}
	if !errors.Is(rerr, fs.ErrNotExist) && !errors.Is(rerr, errNotRegular) {
		return "", "", rerr
	}
	if arg == "" || filepath.Base(arg) != arg || arg == "." || arg == ".." {
		return "", "", fmt.Errorf("%q is neither a link file nor a segment name", arg)
	}
	return arg, "", nil
}

var errNotRegular = errors.New("not a regular file")

// readLink reads a small regular file: a link file is at most 256 bytes,
// so anything larger is not one (and is not read whole).
func readLink(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, err := f.ReadAt(buf, 0)
	if err != nil && n == 0 && fi.Size() > 0 {
		return nil, err
	}
	return buf[:n], nil
}
