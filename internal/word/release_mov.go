//go:build !shmxexplore && !race && amd64

package word

import "unsafe"

// StoreRelease stores v in x with release ordering only; see "Release
// stores". This build (amd64): a plain MOV, which x86's total store order
// makes a release; the compiler keeps it after the stores before it,
// which it never reorders with one another.
func StoreRelease(x *Uint64, v uint64) { *(*uint64)(unsafe.Pointer(x)) = v }
