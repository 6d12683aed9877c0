package memfile

import "unsafe"

// ringGone reports whether the process behind token, found in a slot
// state or the header's state word at p, is known to be dead (the rule of
// gone: only the kernel's word counts, so a ring outside a tracked mapping
// never repairs).
func ringGone(p unsafe.Pointer, token uint32) bool { return gone(p, token) }
