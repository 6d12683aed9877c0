package memfile

import "errors"

// Sentinel errors. Every error memfile returns that is about the contents
// of a segment wraps one of these (usually inside an *fs.PathError naming
// the link or segment), so callers can test with errors.Is.
var (
	// ErrCorrupt reports bytes in a segment that no correct writer could
	// have left there: a bad magic or checksum, an offset or size outside
	// the mapping, a lock word in an impossible state. The message says
	// which field.
	ErrCorrupt = errors.New("memfile: corrupt segment")

	// ErrVersion reports a header written by a different, incompatible
	// layout version of shmx.
	ErrVersion = errors.New("memfile: unsupported layout version")

	// ErrNotReady reports a segment whose creator has not finished
	// writing its header: Open waits for it (see WithOpenTimeout) and
	// returns this error if the creator never finishes, for example
	// because it died while initialising or the segment was not made by
	// Create at all (use OpenRaw for those).
	ErrNotReady = errors.New("memfile: segment header not initialised")

	// ErrOwnerDead reports that the process that held a lock died holding
	// it. The error is returned with the lock held by the caller, which
	// must repair the protected data and call MarkConsistent before it
	// unlocks; otherwise the next locker is told again (the semantics of a
	// POSIX robust mutex).
	ErrOwnerDead = errors.New("memfile: previous lock owner died")
)
