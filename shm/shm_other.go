//go:build !linux && !darwin && !freebsd && !windows

package shm

import "io/fs"

const maxNameLen = MaxNameLen

// sysSegment is empty: no segment can be made on this OS.
type sysSegment struct{}

func (*sysSegment) unmap() error               { return nil }
func (*sysSegment) retire() (bool, error)      { return true, nil }
func (*sysSegment) handle() uintptr            { return ^uintptr(0) }
func (*sysSegment) remove(osName string) error { return errUnsupportedOS }

var errUnsupportedOS = unsupported("shared-memory segments are not implemented on this OS")

func create(name string, size int64, o *options) (*Segment, error) {
	return nil, &fs.PathError{Op: "create", Path: name, Err: errUnsupportedOS}
}

func open(name string, o *options) (*Segment, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: errUnsupportedOS}
}

func remove(name string, o *options) error {
	return &fs.PathError{Op: "remove", Path: name, Err: errUnsupportedOS}
}
