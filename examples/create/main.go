// Command create is the writer of the README's example: it creates the
// memfile "shared_mem.link" (4096 bytes, protected by a Mutex), writes
// "Hello World !" into it under the write lock, prints "ready", and stays
// alive so that examples/open can read it: the creator owns the segment,
// and its Close removes the segment and the link file.
//
// It exits when Enter is pressed or stdin is closed, on Ctrl-C, or after
// -wait if that is set.
//
//	go run ./examples/create          # in one terminal
//	go run ./examples/open            # in another
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/shmx/shmx/memfile"
)

func main() {
	link := flag.String("link", "shared_mem.link", "path of the link file to create")
	wait := flag.Duration("wait", 0, "exit after this long (0: wait for Enter, end of stdin or Ctrl-C)")
	flag.Parse()
	if err := run(*link, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "create:", err)
		os.Exit(1)
	}
}

func run(link string, wait time.Duration) error {
	f, err := memfile.Create(link, memfile.LockMutex, 4096)
	if err != nil {
		return err
	}
	defer f.Close() // the owner's Close removes the segment and link file
	err = f.Write(func(data []byte) error {
		copy(data, "Hello World !\x00")
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	fmt.Fprintf(os.Stderr, "wrote %q; press Enter to exit\n", "Hello World !")
	waitForExit(wait)
	return nil
}

// waitForExit returns on a line or end of stdin, an interrupt, or after
// wait (if positive).
func waitForExit(wait time.Duration) {
	done := make(chan struct{})
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n')
		close(done)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	var timeout <-chan time.Time
	if wait > 0 {
		timeout = time.After(wait)
	}
	select {
	case <-done:
	case <-sig:
	case <-timeout:
	}
}
