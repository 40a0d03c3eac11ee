package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
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

// EnvLookup looks an environment variable up as os.LookupEnv does: its value and whether it
// is set at all.
type EnvLookup func(name string) (value string, set bool)

// VariableProblems lists every problem with the ${VAR} and $VAR references of a whole
// configuration document at once, connector config blocks included, each at its own line:
// a variable that is not set, one that is set but empty (told apart), and a malformed
// reference. Parse stops at the first section it cannot decode; this reads every value.
func VariableProblems(data []byte, filename string, lookup EnvLookup) []*Problem {
	doc, perr := parseDocument(data, filename)
	if perr != nil || doc == nil {
		return nil
	}
	var out []*Problem
	steps := 0
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		steps++
		if steps > maxDecodeSteps || depth > maxDecodeDepth {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, depth+1)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], joinPath(path, n.Content[i].Value), depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i), depth+1)
			}
		case yaml.ScalarNode:
			out = append(out, scalarVarProblems(n, filename, path, lookup)...)
		}
	}
	walk(doc, "", 0)
	return out
}

// scalarVarProblems are the variable problems of one scalar value.
func scalarVarProblems(n *yaml.Node, filename, path string, lookup EnvLookup) []*Problem {
	if !strings.Contains(n.Value, "$") {
		return nil
	}
	var out []*Problem
	_, msgs := expandVars(n.Value, func(name string) string {
		v, set := "", false
		if lookup != nil {
			v, set = lookup(name)
		}
		if v == "" && set {
			out = append(out, &Problem{File: filename, Line: n.Line, Path: path,
				Message: fmt.Sprintf("environment variable %s is set but empty", name)})
			return "-" // counted here, not again as unset
		}
		return v
	})
	for _, m := range msgs {
		out = append(out, &Problem{File: filename, Line: n.Line, Path: path, Message: m})
	}
	return out
}

// IsVariableProblem reports whether p is about a ${VAR} reference (VariableProblems lists
// them all; Parse reports those of the sections it decoded).
func IsVariableProblem(p *Problem) bool {
	return strings.HasPrefix(p.Message, "environment variable ") ||
		strings.HasPrefix(p.Message, "unterminated variable reference") ||
		strings.HasPrefix(p.Message, "invalid variable reference")
}
