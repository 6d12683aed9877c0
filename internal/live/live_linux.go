package live

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Open-file-description locks (Linux 3.15+): owned by the open file, not
// the process, so no close of another descriptor and no thread or pid
// namespace affects them.
const (
	getlk = unix.F_OFD_GETLK
	setlk = unix.F_OFD_SETLK
)

// retake does nothing: an OFD lock survives the close of other
// descriptors of the same file.
func (s *sysDomain) retake() {}

func namespace() uint64 {
	// "pid:[4026531836]"
	s, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return 0
	}
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return 0
	}
	n, _ := strconv.ParseUint(s[i+1:j], 10, 64)
	return n
}
