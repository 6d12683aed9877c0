//go:build freebsd && (amd64 || arm64)

package proc

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kinfoProc is the start of FreeBSD's struct kinfo_proc (<sys/user.h>)
// on 64-bit platforms, up to ki_stat: the kern.proc.pid sysctl returns
// the whole struct (1088 bytes since FreeBSD 7), and x/sys/unix does not
// define it for FreeBSD. The fields this package reads are named; the
// others are spelled out by size so that the offsets can be checked
// against the header below.
type kinfoProc struct {
	structsize int32       // ki_structsize: 0
	_          int32       // ki_layout
	_          [8]uintptr  // ki_args, ki_paddr, ki_addr, ki_tracep, ki_textvp, ki_fd, ki_vmspace, ki_wchan
	pid        int32       // ki_pid: 72
	_          [5]int32    // ki_ppid, ki_pgid, ki_tpgid, ki_sid, ki_tsid
	_          [2]int16    // ki_jobc, ki_spare_short1
	_          uint32      // ki_tdev_freebsd11
	_          [4][16]byte // ki_siglist, ki_sigmask, ki_sigignore, ki_sigcatch
	_          [5]uint32   // ki_uid, ki_ruid, ki_svuid, ki_rgid, ki_svgid
	_          [2]int16    // ki_ngroups, ki_spare_short2
	_          [16]uint32  // ki_groups
	_          [6]uint64   // ki_size, ki_rssize, ki_swrss, ki_tsize, ki_dsize, ki_ssize
	_          [2]uint16   // ki_xstat, ki_acflag
	_          [5]uint32   // ki_pctcpu, ki_estcpu, ki_slptime, ki_swtime, ki_cow
	_          uint64      // ki_runtime
	startSec   int64       // ki_start.tv_sec: 336
	startUsec  int64       // ki_start.tv_usec
	_          [2]int64    // ki_childtime
	_          [2]int64    // ki_flag, ki_kiflag
	_          int32       // ki_traceflag
	stat       uint8       // ki_stat: 388
}

// kinfoProcSize is KINFO_PROC_SIZE on amd64 and arm64.
const kinfoProcSize = 1088

// The offsets of the fields read, as <sys/user.h> places them: a build
// fails here if the struct above is miscounted.
var (
	_ [72 - unsafe.Offsetof(kinfoProc{}.pid)]byte
	_ [unsafe.Offsetof(kinfoProc{}.pid) - 72]byte
	_ [336 - unsafe.Offsetof(kinfoProc{}.startSec)]byte
	_ [unsafe.Offsetof(kinfoProc{}.startSec) - 336]byte
	_ [388 - unsafe.Offsetof(kinfoProc{}.stat)]byte
	_ [unsafe.Offsetof(kinfoProc{}.stat) - 388]byte
)

// startHash hashes ki_start (the process's start time) from the
// kern.proc.pid sysctl. The answer is only trusted when the kernel's
// struct has the size and the pid this file expects; otherwise it says
// errors.ErrUnsupported and Alive falls back to kill(pid, 0) alone.
func startHash(pid uint32) (uint32, error) {
	b, err := unix.SysctlRaw("kern.proc.pid", int(pid))
	if err != nil {
		return 0, err
	}
	if len(b) == 0 {
		return 0, unix.ESRCH // no such process
	}
	if len(b) < int(unsafe.Sizeof(kinfoProc{})) {
		return 0, fmt.Errorf("proc: kern.proc.pid gave %d bytes: %w", len(b), errors.ErrUnsupported)
	}
	k := (*kinfoProc)(unsafe.Pointer(&b[0]))
	if k.structsize != kinfoProcSize || len(b) != kinfoProcSize || k.pid != int32(pid) {
		return 0, fmt.Errorf("proc: kinfo_proc of size %d for pid %d is not the layout this build reads: %w",
			k.structsize, k.pid, errors.ErrUnsupported)
	}
	if k.stat == sZomb {
		return 0, errZombie
	}
	return mix(uint64(k.startSec)*1e6 + uint64(k.startUsec)), nil
}
