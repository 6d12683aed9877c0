package memfile

import "github.com/shmx/shmx/internal/proc"

// ringAlive reports whether the process with this pid may still be
// running. A slot records only the pid (it shares one atomic word with the
// sequence number), so the start-time check of proc.Alive that defeats pid
// reuse cannot be used here; when unsure, proc.Alive says alive, and the
// ring keeps waiting rather than take a slot from a live process.
func ringAlive(pid uint32) bool {
	alive, _ := proc.Alive(pid, 0)
	return alive
}
