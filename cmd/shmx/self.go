package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
)

// selfCommand runs the executable exe again with the hidden subcommand
// sub, for the peer processes of demo and bench. Under user-mode emulation
// (shmx's CI runs arm64 binaries with qemu-user, which cannot exec a
// foreign binary by itself) SHMX_TEST_EMULATOR names the emulator to run
// it with.
func selfCommand(ctx context.Context, exe, sub string, args ...string) *exec.Cmd {
	argv := append([]string{exe, sub}, args...)
	if em := strings.Fields(os.Getenv("SHMX_TEST_EMULATOR")); len(em) > 0 {
		argv = append(em, argv...)
	}
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}
