package storagetest

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mustEqual fails t when got differs from want under the suite's equality:
//   - times are equal to the millisecond (|got-want| < 1ms) and got is in UTC;
//   - nil and empty slices, maps and byte slices are equal;
//   - everything else is compared with reflect.DeepEqual, recursively.
func mustEqual(t *testing.T, what string, want, got any) {
	t.Helper()
	var diffs []string
	diff(what, reflect.ValueOf(want), reflect.ValueOf(got), &diffs)
	if len(diffs) > 10 {
		diffs = append(diffs[:10], fmt.Sprintf("... and %d more", len(diffs)-10))
	}
	if len(diffs) > 0 {
		t.Errorf("%s differs:\n  %s", what, strings.Join(diffs, "\n  "))
	}
}

var timeType = reflect.TypeFor[time.Time]()

func diff(path string, want, got reflect.Value, out *[]string) {
	if !want.IsValid() || !got.IsValid() {
		if want.IsValid() != got.IsValid() {
			*out = append(*out, fmt.Sprintf("%s: want %v, got %v", path, want, got))
		}
		return
	}
	if want.Type() != got.Type() {
		*out = append(*out, fmt.Sprintf("%s: want type %s (%#v), got type %s (%#v)", path, want.Type(), want, got.Type(), got))
		return
	}
	if want.Type() == timeType {
		w, g := want.Interface().(time.Time), got.Interface().(time.Time)
		if !timeEqual(w, g) {
			*out = append(*out, fmt.Sprintf("%s: want %s, got %s", path, w.UTC().Format(time.RFC3339Nano), g.Format(time.RFC3339Nano)))
		} else if g.Location() != time.UTC {
			*out = append(*out, fmt.Sprintf("%s: got location %s, want UTC", path, g.Location()))
		}
		return
	}
	switch want.Kind() {
	case reflect.Struct:
		for i := range want.NumField() {
			f := want.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			diff(path+"."+f.Name, want.Field(i), got.Field(i), out)
		}
	case reflect.Slice:
		if want.Len() == 0 && got.Len() == 0 {
			return
		}
		if want.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(want.Bytes(), got.Bytes()) {
				*out = append(*out, fmt.Sprintf("%s: want %q, got %q", path, want.Bytes(), got.Bytes()))
			}
			return
		}
		if want.Len() != got.Len() {
			*out = append(*out, fmt.Sprintf("%s: want %d elements %v, got %d %v", path, want.Len(), want, got.Len(), got))
			return
		}
		for i := range want.Len() {
			diff(fmt.Sprintf("%s[%d]", path, i), want.Index(i), got.Index(i), out)
		}
	case reflect.Map:
		if want.Len() == 0 && got.Len() == 0 {
			return
		}
		if want.Len() != got.Len() {
			*out = append(*out, fmt.Sprintf("%s: want %d entries %v, got %d %v", path, want.Len(), want, got.Len(), got))
			return
		}
		for _, k := range want.MapKeys() {
			g := got.MapIndex(k)
			if !g.IsValid() {
				*out = append(*out, fmt.Sprintf("%s[%v]: missing", path, k))
				continue
			}
			diff(fmt.Sprintf("%s[%v]", path, k), want.MapIndex(k), g, out)
		}
	case reflect.Interface, reflect.Pointer:
		if want.IsNil() || got.IsNil() {
			if want.IsNil() != got.IsNil() {
				*out = append(*out, fmt.Sprintf("%s: want %v, got %v", path, want, got))
			}
			return
		}
		diff(path, want.Elem(), got.Elem(), out)
	default:
		if !reflect.DeepEqual(want.Interface(), got.Interface()) {
			*out = append(*out, fmt.Sprintf("%s: want %#v, got %#v", path, want.Interface(), got.Interface()))
		}
	}
}

// timeEqual reports whether two times are equal to the millisecond.
func timeEqual(want, got time.Time) bool {
	if want.IsZero() || got.IsZero() {
		return want.IsZero() == got.IsZero()
	}
	d := got.Sub(want)
	return d > -time.Millisecond && d < time.Millisecond
}
