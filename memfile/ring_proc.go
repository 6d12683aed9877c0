package memfile

import "unsafe"

// ringGone reports whether the process behind token, found in a slot
// state at p, is known to be dead (the rule of gone: only the kernel's
// word counts, so a ring outside a MemFile never repairs).
func ringGone(p unsafe.Pointer, token uint32) bool { return gone(p, token) }
