package word

// Release stores.
//
// StoreRelease (in release_mov.go, release_atomic.go and the explorer's
// word_explore.go) hands a word over: every load and store before it is
// visible before it is, as with Uint64.Store, but a load after it may be
// performed before it is visible (x86 lets a store wait in the store
// buffer while later loads go ahead). It is for a word that nobody else
// may change in its current state, such as a Ring slot this process holds
// (see memfile's slot state machine), handed over many at a time: on
// amd64 Uint64.Store is an XCHG, a locked instruction that waits for every
// store before it, where StoreRelease is one MOV, so a batch of them
// keeps its stores in flight together. A batch that must then look for
// sleepers (the Dekker pair "publish, then look at the sleeper bit"
// against "set the bit, then look at the slot") calls Fence once after
// the last of them.
