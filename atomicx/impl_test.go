package atomicx

import "testing"

// impl is one implementation of CAS128/Load128 that this test binary can
// select: the assembly variants this CPU supports, and the generic twin.
type impl struct {
	name   string
	native bool          // atomic across processes
	set    func() func() // selects the implementation, returns the undo
}

// each runs f once per implementation, as a subtest, with it selected.
func each(t *testing.T, f func(t *testing.T, im impl)) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			defer im.set()()
			f(t, im)
		})
	}
}

// implNamed returns the implementation called name, for child processes.
func implNamed(t testing.TB, name string) impl {
	for _, im := range impls() {
		if im.name == name {
			return im
		}
	}
	t.Fatalf("no implementation %q in this binary", name)
	return impl{}
}
