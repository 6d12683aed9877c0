// Command open is the reader of the README's example: it opens the
// memfile "shared_mem.link" made by examples/create, and prints the text
// stored there (up to the first NUL byte) under the read lock.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/shmx/shmx/memfile"
)

func main() {
	link := flag.String("link", "shared_mem.link", "path of the link file to open")
	flag.Parse()
	if err := run(*link); err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
}

func run(link string) error {
	f, err := memfile.Open(link)
	if err != nil {
		return err
	}
	defer f.Close() // an opener's Close only unmaps
	return f.Read(func(data []byte) error {
		if n := bytes.IndexByte(data, 0); n >= 0 {
			data = data[:n]
		}
		fmt.Println(string(data))
		return nil
	})
}
