package futex_test

import "github.com/shmx/shmx/futex"

func forcePoll() func() { return futex.ForcePollWaitAny() }
