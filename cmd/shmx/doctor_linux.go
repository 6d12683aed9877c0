package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// hugetlbfsMagic is HUGETLBFS_MAGIC from linux/magic.h.
const hugetlbfsMagic = 0x958458f6

// platformFacts reports /dev/shm, huge pages and transparent huge pages.
func platformFacts() []fact {
	return []fact{
		{"/dev/shm", devShm()},
		{"huge pages", hugePages()},
		{"THP for shmem", readTrim("/sys/kernel/mm/transparent_hugepage/shmem_enabled")},
	}
}

// devShm reports the size and free space of the tmpfs POSIX shm lives on,
// and warns when it is as small as Docker's default: writing past it
// raises SIGBUS, not an error.
func devShm() string {
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil {
		return "unavailable: " + err.Error()
	}
	total := uint64(st.Blocks) * uint64(st.Bsize)
	free := uint64(st.Bavail) * uint64(st.Bsize)
	s := fmt.Sprintf("%s total, %s free", size(total), size(free))
	if total < 256<<20 {
		s += " (small: Docker's default is 64 MiB; raise it with --shm-size)"
	}
	return s
}

// hugePages reports the huge page pool from /proc/meminfo and whether a
// hugetlbfs is mounted at /dev/hugepages.
func hugePages() string {
	info := map[string]string{}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.HasPrefix(k, "Huge") {
				info[k] = strings.TrimSpace(v)
			}
		}
		f.Close()
	}
	if info["HugePages_Total"] == "" {
		return "unknown (/proc/meminfo has no HugePages_Total)"
	}
	mount := "not mounted"
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/hugepages", &st); err == nil && uint32(st.Type) == hugetlbfsMagic {
		mount = "mounted"
	}
	return fmt.Sprintf("%s total, %s free, page size %s; /dev/hugepages %s",
		info["HugePages_Total"], info["HugePages_Free"], info["Hugepagesize"], mount)
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
