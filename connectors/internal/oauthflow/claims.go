package oauthflow

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Lookup follows a dotted path ("data.attributes.email") into decoded JSON. A key that itself
// contains a dot is matched whole first ("https://example.com/groups" as a claim name).
func Lookup(m map[string]any, path string) (any, bool) {
	if path == "" {
		return nil, false
	}
	if v, ok := m[path]; ok {
		return v, true
	}
	cur := any(m)
	for part := range strings.SplitSeq(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// String renders a scalar JSON value as a string: strings as is, numbers without exponent,
// booleans as true/false. Objects, arrays and null give "".
func String(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	default:
		return ""
	}
}

// Strings renders a JSON value as a list of strings: an array of scalars element by element,
// a single scalar as one element. Empty strings are dropped.
func Strings(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if s := String(e); s != "" {
				out = append(out, s)
			}
		}
	case []string:
		out = slices.DeleteFunc(slices.Clone(x), func(s string) bool { return s == "" })
	default:
		if s := String(x); s != "" {
			out = []string{s}
		}
	}
	return out
}

// Bool reads a JSON boolean, accepting the strings "true" and "false" some providers send.
func Bool(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	default:
		return false
	}
}

// Attrs flattens claims into the multi-valued attribute map of connectors.Upstream: scalars and
// arrays of scalars as strings, objects and arrays of objects as compact JSON.
func Attrs(claims map[string]any) map[string][]string {
	out := make(map[string][]string, len(claims))
	for k, v := range claims {
		switch x := v.(type) {
		case nil:
		case map[string]any:
			if b, err := json.Marshal(x); err == nil {
				out[k] = []string{string(b)}
			}
		case []any:
			var vals []string
			for _, e := range x {
				if s := String(e); s != "" {
					vals = append(vals, s)
				} else if b, err := json.Marshal(e); err == nil && e != nil {
					vals = append(vals, string(b))
				}
			}
			if len(vals) > 0 {
				out[k] = vals
			}
		default:
			if s := String(x); s != "" {
				out[k] = []string{s}
			}
		}
	}
	return out
}

// DecodeClaims decodes a JSON object with numbers kept exact.
func DecodeClaims(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode claims: %w", err)
	}
	return m, nil
}
