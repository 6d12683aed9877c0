// Command shmx demonstrates and inspects shmx shared memory.
//
//	shmx demo     two processes exchange messages through a memfile; prints msgs/s and latency
//	shmx doctor   what this machine offers: CPU features, /dev/shm, huge pages, futex
//	shmx ls       the shmx segments on this machine: size, lock, creator (alive?), age
//	shmx info     a segment's header and the state of its lock and events
//	shmx rm       remove segments by link or name, or every stale one (-stale, -dry-run)
//	shmx bench    shmx against sync.Mutex, pthread, flock, pipes and sockets (-json, -svg)
//
// Usage errors exit with status 2 after printing usage; other failures
// print one line and exit with status 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// A command is one subcommand. To add one, write its run function in its
// own file and add a line to commands.
type command struct {
	name    string
	summary string // "" hides the command from usage (internal helpers)
	run     func(args []string) error
}

// commands is the dispatch table, in the order usage lists them.
var commands = []command{
	{"demo", "two processes ping-pong through a memfile; prints msgs/s and round-trip percentiles", runDemo},
	{"doctor", "report CPU features and platform facts that matter to shared memory", runDoctor},
	{"ls", "list the shmx segments on this machine: size, lock, creator (alive?), age", runLs},
	{"info", "show a segment's header and the state of its lock and events", runInfo},
	{"rm", "remove segments by link or name, or every stale one (-stale)", runRm},
	{"bench", "measure shmx against sync.Mutex, pthread, flock, pipes and sockets; -json, -svg", runBench},
	{demoPeerCmd, "", runDemoPeer},
	{benchPeerCmd, "", runBenchPeer},
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stderr))
}

// dispatch runs the subcommand named by args[0] and returns the exit
// status.
func dispatch(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		usage(os.Stdout)
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:])
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "shmx %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "shmx %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "shmx: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: shmx <command> [flags]\n\ncommands:")
	for _, c := range commands {
		if c.summary != "" {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintln(w, "\nRun 'shmx <command> -h' for the flags of a command.")
}

// usageError marks an error in the command line (exit status 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// parseFlags parses args with fs, which prints its own usage on error, and
// rejects positional arguments the command does not take.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
