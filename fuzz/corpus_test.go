package fuzz_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
)

// seed is one hand-picked input of a fuzz target: its file name under
// testdata/fuzz/<target>/ and the target's arguments, in order.
type seed struct {
	name string
	args []any
}

// seedSets lists the hand-picked seeds of every target. They live in the
// committed corpus files, which go test replays; TestSeedCorpus keeps the
// two in step.
var seedSets = map[string]func() []seed{
	"FuzzHeader":         headerSeeds,
	"FuzzLinkFile":       linkSeeds,
	"FuzzMutexState":     mutexSeeds,
	"FuzzRWMutexState":   rwmutexSeeds,
	"FuzzEventState":     eventSeeds,
	"FuzzCondState":      condSeeds,
	"FuzzSemaphoreState": semaphoreSeeds,
	"FuzzSemaphoreAt":    semaphoreAtSeeds,
	"FuzzRing":           ringSeeds,
	"FuzzSeqLock":        seqlockSeeds,
	"FuzzOpen":           openSeeds,
	"FuzzParticipants":   participantSeeds,
}

// TestSeedCorpus checks that every hand-picked seed is in the committed
// corpus, byte for byte in the go test fuzz v1 format, so that plain
// go test runs it, and that the corpus holds nothing else but crashers
// the fuzzer found (named by 16 hex digits): a file left from a seed that
// was renamed or dropped (one encoding an old layout, say) would be
// replayed for ever without meaning what its name says. With
// SHMX_WRITE_CORPUS=1 it writes the seed files instead and removes the
// stale ones.
func TestSeedCorpus(t *testing.T) {
	write := os.Getenv("SHMX_WRITE_CORPUS") == "1"
	targets := make([]string, 0, len(seedSets))
	for name := range seedSets {
		targets = append(targets, name)
	}
	sort.Strings(targets)
	for _, target := range targets {
		dir := filepath.Join("testdata", "fuzz", target)
		seeds := map[string]bool{}
		for _, s := range seedSets[target]() {
			if seeds[s.name] {
				t.Errorf("%s: two seeds named %s", target, s.name)
			}
			seeds[s.name] = true
			path := filepath.Join(dir, s.name)
			want := marshalSeed(s.args...)
			if write {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("seed missing from the corpus (regenerate, see doc.go): %v", err)
			} else if !bytes.Equal(got, want) {
				t.Errorf("%s differs from its hand-picked seed (regenerate, see doc.go)", path)
			}
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, e := range ents {
			if seeds[e.Name()] || crasherName.MatchString(e.Name()) {
				continue
			}
			path := filepath.Join(dir, e.Name())
			if write {
				if err := os.Remove(path); err != nil {
					t.Error(err)
				}
				continue
			}
			t.Errorf("%s is neither a hand-picked seed nor a crasher: stale (regenerate, see doc.go)", path)
		}
	}
}

// crasherName matches the names go test -fuzz gives the inputs it saves.
var crasherName = regexp.MustCompile(`^[0-9a-f]{16}$`)

// marshalSeed encodes fuzz arguments in the go test fuzz v1 corpus file
// format (internal/fuzz/encoding.go), for the types the targets take.
func marshalSeed(args ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case int16, uint16, uint32, uint64, bool:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		default:
			panic(fmt.Sprintf("marshalSeed: unsupported type %T", a))
		}
	}
	return b.Bytes()
}

// fill returns n bytes of value c.
func fill(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }
