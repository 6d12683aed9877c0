package atomicx

import "testing"

// FuzzCAS128 is a differential test of every implementation in this
// binary (the assembly variants and the generic twin) against the
// specification of compare-and-swap. Property: for any current, old and
// new values, each implementation returns swapped == (current == old),
// leaves new in memory when it swapped and current otherwise, and
// Load128 returns what is in memory: so all implementations agree.
// The fuzzer picks old freely or, by mode, derives it from current so
// that equal and nearly equal pairs (one half differing) are common.
func FuzzCAS128(f *testing.F) {
	for _, c := range casCases {
		f.Add(c.cur.Lo, c.cur.Hi, c.old.Lo, c.old.Hi, c.new.Lo, c.new.Hi, uint8(0))
	}
	f.Fuzz(func(t *testing.T, curLo, curHi, oldLo, oldHi, newLo, newHi uint64, mode uint8) {
		cur, old, new := Uint128{curLo, curHi}, Uint128{oldLo, oldHi}, Uint128{newLo, newHi}
		switch mode % 4 {
		case 1:
			old = cur
		case 2:
			old = Uint128{cur.Lo, oldHi}
		case 3:
			old = Uint128{oldLo, cur.Hi}
		}
		swapped := cur == old
		after := cur
		if swapped {
			after = new
		}
		u := newUint128(t)
		for _, im := range impls() {
			undo := im.set()
			*u = cur
			if got := Load128(u); got != cur {
				t.Errorf("%s: Load128 of %x = %x", im.name, cur, got)
			}
			if got := CAS128(u, old, new); got != swapped || *u != after {
				t.Errorf("%s: CAS128(%x, old %x, new %x) = %v leaving %x; want %v leaving %x",
					im.name, cur, old, new, got, *u, swapped, after)
			}
			if got := Load128(u); got != after {
				t.Errorf("%s: Load128 after CAS128 = %x, want %x", im.name, got, after)
			}
			undo()
		}
	})
}
