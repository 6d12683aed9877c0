package memfile_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/shmx/shmx/memfile"
)

// tempDir stands in for a directory both processes know.
func tempDir() string {
	dir, err := os.MkdirTemp("", "memfile-example")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

// The writer of the README: create a memfile protected by a Mutex and
// write into it under the lock. Another process opens the same link path
// (here the same process does, to show both halves).
func ExampleCreate() {
	dir := tempDir()
	defer os.Remove(dir) // emptied by the owner's Close, which runs first
	link := filepath.Join(dir, "shared_mem.link")

	f, err := memfile.Create(link, memfile.LockMutex, 4096)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close() // the creator owns the segment: Close removes it and the link
	err = f.Write(func(data []byte) error {
		copy(data, "Hello World !\x00")
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Size(), f.LockType(), f.IsOwner())
	// Output: 4096 LockMutex true
}

// The reader of the README: open the link another process created and read
// under the lock.
func ExampleOpen() {
	dir := tempDir()
	defer os.Remove(dir) // emptied by the owner's Close, which runs first
	link := filepath.Join(dir, "shared_mem.link")
	w, err := memfile.Create(link, memfile.LockRWMutex, 4096)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	w.Write(func(data []byte) error { copy(data, "Hello World !\x00"); return nil })

	f, err := memfile.Open(link)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close() // an opener's Close only unmaps
	err = f.Read(func(data []byte) error {
		n := bytes.IndexByte(data, 0)
		fmt.Println(string(data[:n]))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: Hello World !
}

// Counters shared by every process that opens the link, viewed as a Go
// struct. The type is checked once: a field holding a pointer, string,
// slice, map, channel, func, interface, int or uint is an error naming it.
func ExampleView() {
	dir := tempDir()
	defer os.Remove(dir) // emptied by the owner's Close, which runs first
	type stats struct {
		Requests uint64
		Errors   uint32
		Ratio    float32
	}
	f, err := memfile.Create(filepath.Join(dir, "stats.link"), memfile.LockMutex, 64)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	s, err := memfile.View[stats](f)
	if err != nil {
		log.Fatal(err)
	}
	f.Lock()
	s.Requests++
	s.Errors += 2
	f.Unlock()
	fmt.Printf("%+v\n", *s)

	type bad struct {
		ID   uint64
		Name string
	}
	_, err = memfile.View[bad](f)
	fmt.Println(err)
	// Output:
	// {Requests:1 Errors:2 Ratio:0}
	// memfile: type memfile_test.bad cannot live in shared memory: field Name (string) is a string, which points into one process's memory
}
