package config

import (
	"fmt"
	"strings"
)

// expandVars replaces ${VAR} and $VAR in s using getenv; $$ is a literal $, and a $ that is
// not followed by a name or "{" stays as it is. It returns one message per bad or unset
// reference. A nil getenv is an empty environment.
func expandVars(s string, getenv func(string) string) (string, []string) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	// A bcrypt hash is full of $ signs: take it literally.
	for _, p := range []string{"$2a$", "$2b$", "$2y$"} {
		if strings.HasPrefix(s, p) {
			return s, nil
		}
	}
	var (
		b    strings.Builder
		errs []string
	)
	lookup := func(name string) {
		v := ""
		if getenv != nil {
			v = getenv(name)
		}
		if v == "" {
			errs = append(errs, fmt.Sprintf("environment variable %s is not set (write $$ for a literal $)", name))
		}
		b.WriteString(v)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		next := s[i+1]
		switch {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				errs = append(errs, fmt.Sprintf("unterminated variable reference %q (write $$ for a literal $)", s[i:]))
				return s, errs
			}
			name := s[i+2 : i+2+end]
			if !validVarName(name) {
				errs = append(errs, fmt.Sprintf("invalid variable reference ${%s}: a name is letters, digits and _ (write $$ for a literal $)", name))
			} else {
				lookup(name)
			}
			i += 2 + end + 1
		case isNameStart(next):
			j := i + 1
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			lookup(s[i+1 : j])
			i = j
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), errs
}

func isNameStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || ('0' <= c && c <= '9') }

func validVarName(name string) bool {
	if name == "" || !isNameStart(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if !isNameChar(name[i]) {
			return false
		}
	}
	return true
}
