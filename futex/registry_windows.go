package futex

import (
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// region is one registered view: the address range [base, end) and the
// OS name of the cross-process object it maps.
type region struct {
	base, end uintptr
	name      string
}

// regions is the registry of views, sorted by base and never modified in
// place: Register and Unregister publish a new slice, so the lookup on
// every Wait and Wake is one atomic load and a binary search, with no lock
// and no allocation. regMu only serialises the writers.
var (
	regions atomic.Pointer[[]region]
	regMu   sync.Mutex
)

// span returns the address range of mem. mem is a mapped view, which the
// Go heap does not manage, so its address is stable.
func span(mem []byte) (base, end uintptr) {
	base = uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	return base, base + uintptr(len(mem))
}

// register publishes a registry with mem's range as name, dropping any
// range it overlaps: those belong to views that are no longer mapped
// there, whose Unregister was missed.
func register(mem []byte, name string) error {
	base, end := span(mem)
	regMu.Lock()
	defer regMu.Unlock()
	next := []region{{base: base, end: end, name: name}}
	if old := regions.Load(); old != nil {
		for _, r := range *old {
			if r.end <= base || r.base >= end {
				next = append(next, r)
			}
		}
	}
	slices.SortFunc(next, func(a, b region) int { return cmpUintptr(a.base, b.base) })
	regions.Store(&next)
	return nil
}

// unregister publishes a registry without the range that starts at mem,
// and closes the cached waiter queue and semaphores of its name once no
// other view of that object remains registered.
func unregister(mem []byte) {
	base, _ := span(mem)
	regMu.Lock()
	defer regMu.Unlock()
	old := regions.Load()
	if old == nil {
		return
	}
	i, found := slices.BinarySearchFunc(*old, base, func(r region, b uintptr) int { return cmpUintptr(r.base, b) })
	if !found {
		return
	}
	name := (*old)[i].name
	next := slices.Delete(slices.Clone(*old), i, i+1)
	regions.Store(&next)
	for _, r := range next {
		if r.name == name {
			return
		}
	}
	dropQueue(name)
	dropSemaphores(name)
}

// lookup finds the registered view holding the word at addr and returns
// the object's name and the word's offset in it: the key every process
// derives the same way, whatever address its view has.
func lookup(addr *uint32) (name string, off uintptr, ok bool) {
	rs := regions.Load()
	if rs == nil {
		return "", 0, false
	}
	p := uintptr(unsafe.Pointer(addr))
	lo, hi := 0, len(*rs)
	for lo < hi { // first region whose end is above p
		m := int(uint(lo+hi) >> 1)
		if (*rs)[m].end <= p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(*rs) || (*rs)[lo].base > p {
		return "", 0, false
	}
	r := &(*rs)[lo]
	return r.name, p - r.base, true
}

func cmpUintptr(a, b uintptr) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
