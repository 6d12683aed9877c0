package cbench

import "errors"

// Spinning exchanges between two processes over shared memory, the limits
// a shmx message round trip is compared with. Each side spins on a
// sequence word with the CPU's spin-wait hint (PAUSE, as shmx.Pause) and
// never makes a system call. mem is a shared mapping laid out as the
// functions say, zero before the first round of either side; both sides
// play the same rounds: from, from+1, ..., from+n-1 (a later call
// continues where the earlier one ended). stop points at a word that, once
// not 0, makes both sides give up (ErrStopped): a C loop does not see Go's
// context, and a side whose peer died would otherwise spin forever. Side 0
// records the time of each round trip in lat[i] (ns) if lat is not nil
// (len(lat) >= n). A message that arrives wrong fails the call.

// ErrStopped is returned by a spinning exchange whose stop word was set.
var ErrStopped = errors.New("cbench: stopped before the last round")

// LineSize is the shared memory LinePong uses: one 64-byte cache line
// (which must be 64-byte aligned to be one line).
const LineSize = 64

// FlagSize is the shared memory FlagPong needs for size-byte messages.
func FlagSize(size int) int { return 256 + 2*((size+127)&^127) }
