package futex_test

import (
	"testing"
	"time"

	"github.com/shmx/shmx/futex"
)

// TestNoAllocs proves that the paths a lock takes allocate nothing: Wake
// with no waiter, Wait that finds the word changed, and a timed Wait that
// sleeps and times out (the timespec or deadline stays on the stack), on
// a heap word and on a registered shared word (whose Windows semaphore is
// cached after the first call).
func TestNoAllocs(t *testing.T) {
	mem, _ := newShared(t)
	for name, w := range map[string]*uint32{"heap": new(uint32), "shared": word(mem, 256)} {
		futex.Wake(w, 1) // open and cache whatever the OS path needs
		cases := []struct {
			what string
			f    func()
		}{
			{"Wake", func() { futex.Wake(w, 1) }},
			{"WakeAll", func() { futex.WakeAll(w) }},
			{"Wait(changed)", func() { futex.Wait(w, 1, -1) }},
			{"Wait(timeout)", func() { futex.Wait(w, 0, time.Microsecond) }},
		}
		for _, c := range cases {
			if n := testing.AllocsPerRun(100, c.f); n != 0 {
				t.Errorf("%s: %s allocates %v times per call", name, c.what, n)
			}
		}
	}
}
