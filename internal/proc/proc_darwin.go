package proc

import "golang.org/x/sys/unix"

// startHash hashes p_starttime from the kern.proc.pid sysctl.
func startHash(pid uint32) (uint32, error) {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", int(pid))
	if err != nil {
		return 0, err
	}
	if k.Proc.P_stat == sZomb {
		return 0, errZombie
	}
	t := k.Proc.P_starttime
	return mix(uint64(t.Sec)*1e6 + uint64(t.Usec)), nil
}
