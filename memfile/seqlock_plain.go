package memfile

import (
	"fmt"
	"reflect"
)

// seqCheckPlain reports whether t is plain data a SeqLock can copy between
// processes: booleans, fixed-width numbers, and arrays and structs of
// them. It applies the same rule as the check behind View and Slice and
// is kept separate only so that SeqLock did not depend on a file being
// written at the same time; the two should become one.
func seqCheckPlain(t reflect.Type) error {
	if err := seqWalkPlain(t); err != nil {
		return fmt.Errorf("memfile: SeqLock of %v: %w", t, err)
	}
	return nil
}

func seqWalkPlain(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Bool, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return nil
	case reflect.Array:
		return seqWalkPlain(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if err := seqWalkPlain(t.Field(i).Type); err != nil {
				return fmt.Errorf("field %s: %w", t.Field(i).Name, err)
			}
		}
		return nil
	}
	return fmt.Errorf("%v is not plain fixed-width data", t.Kind())
}
