//go:build !shmxexplore && (race || !amd64)

package word

// StoreRelease stores v in x with release ordering only; see "Release
// stores". This build: Uint64.Store, which is a release store already on
// arm64 (STLR) and which the race detector understands.
func StoreRelease(x *Uint64, v uint64) { x.Store(v) }
