package memfile

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"
)

// View returns the user data of f as a *T. T must be plain data whose
// layout every process agrees on: booleans, fixed-width integers and
// floats, complex numbers, and arrays and structs of those. Pointers,
// unsafe.Pointer, strings, slices, maps, channels, functions and
// interfaces are rejected (they point into one process's heap, meaningless
// and dangerous in another), and so are int, uint and uintptr (their size
// differs between 32- and 64-bit processes). The error names the offending
// field. The data must be at least unsafe.Sizeof(T) bytes.
//
// The view is valid until f is closed; concurrent access must be
// synchronised by the caller (Read, Write, Lock or atomics).
func View[T any](f *MemFile) (*T, error) {
	t := reflect.TypeFor[T]()
	if err := checkPlain(t); err != nil {
		return nil, err
	}
	data := f.Bytes()
	if uintptr(len(data)) < t.Size() || len(data) == 0 {
		return nil, fmt.Errorf("memfile: View[%v]: type needs %d bytes, data has %d", t, t.Size(), len(data))
	}
	p := unsafe.Pointer(unsafe.SliceData(data))
	if uintptr(p)%uintptr(t.Align()) != 0 {
		return nil, fmt.Errorf("memfile: View[%v]: data is not %d-byte aligned", t, t.Align())
	}
	// data is mapped shared memory, never moved by the GC, at least
	// Sizeof(T) bytes and aligned for T, and T holds no pointers the GC
	// would have to scan: the cast is legal.
	return (*T)(p), nil
}

// Slice returns the user data of f as a []T of len(data)/Sizeof(T)
// elements. T is checked as for View; zero-size types are rejected.
func Slice[T any](f *MemFile) ([]T, error) {
	t := reflect.TypeFor[T]()
	if err := checkPlain(t); err != nil {
		return nil, err
	}
	if t.Size() == 0 {
		return nil, fmt.Errorf("memfile: Slice[%v]: zero-size element type", t)
	}
	data := f.Bytes()
	n := uintptr(len(data)) / t.Size()
	if n == 0 {
		return []T{}, nil
	}
	p := unsafe.Pointer(unsafe.SliceData(data))
	if uintptr(p)%uintptr(t.Align()) != 0 {
		return nil, fmt.Errorf("memfile: Slice[%v]: data is not %d-byte aligned", t, t.Align())
	}
	// As in View: mapped, aligned, big enough, pointer-free.
	return unsafe.Slice((*T)(p), n), nil
}

// plainCache remembers checkPlain's verdict per type, so that View and
// Slice walk a type's fields once, not on every call.
var plainCache sync.Map // reflect.Type -> verdict

// verdict wraps checkPlain's result (sync.Map cannot tell a stored nil
// from a missing key).
type verdict struct{ err error }

// checkPlain reports whether t is plain data shared memory can hold.
func checkPlain(t reflect.Type) error {
	if v, ok := plainCache.Load(t); ok {
		return v.(verdict).err
	}
	err := walkPlain(t, "")
	if err != nil {
		err = fmt.Errorf("memfile: type %v cannot live in shared memory: %w", t, err)
	}
	plainCache.Store(t, verdict{err})
	return err
}

// walkPlain checks t recursively; path is the field path so far.
func walkPlain(t reflect.Type, path string) error {
	switch t.Kind() {
	case reflect.Bool, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return nil
	case reflect.Int, reflect.Uint, reflect.Uintptr:
		return fmt.Errorf("%s is %v, whose size differs between 32- and 64-bit processes (use a fixed-width type)", where(path, t), t.Kind())
	case reflect.Array:
		return walkPlain(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			if err := walkPlain(f.Type, p); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s is a %v, which points into one process's memory", where(path, t), t.Kind())
}

func where(path string, t reflect.Type) string {
	if path == "" {
		return "the type itself"
	}
	return "field " + path + " (" + t.String() + ")"
}
