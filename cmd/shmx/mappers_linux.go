package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// mappers returns, for each segment name in want, the pids of the
// processes that map /dev/shm/<name>, from /proc/<pid>/maps. A process
// whose maps this user may not read (another user's, without privilege)
// cannot be judged and is skipped: such a process could map only segments
// whose mode lets other users in. unread counts them.
func mappers(want map[string]bool) (m map[string][]int, unread int, err error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, 0, err
	}
	m = map[string][]int{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		names, err := mappedNames(pid)
		if err != nil {
			if !os.IsNotExist(err) {
				unread++ // exited processes are simply gone
			}
			continue
		}
		for name := range names {
			if want[name] {
				m[name] = append(m[name], pid)
			}
		}
	}
	return m, unread, nil
}

// mappedNames lists the /dev/shm files mapped by pid. A maps line ends
// with the path, then " (deleted)" if it was unlinked since: such a
// mapping is of an older file, not of the segment now under that name.
func mappedNames(pid int) (map[string]bool, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, " /dev/shm/")
		if i < 0 {
			continue
		}
		path := line[i+1:]
		if !strings.HasSuffix(path, " (deleted)") {
			names[filepath.Base(path)] = true
		}
	}
	return names, sc.Err()
}
