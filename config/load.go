package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// source remembers where a parsed Config came from, so Validate can cite file:line.
type source struct {
	file  string
	lines map[string]int // key path -> line of the key (or list item)
}

// line returns the line of path or of its closest recorded ancestor, or 0.
func (s *source) line(path string) int {
	if s == nil {
		return 0
	}
	for path != "" {
		if l, ok := s.lines[path]; ok {
			return l
		}
		cut := -1
		for i := len(path) - 1; i >= 0; i-- {
			if path[i] == '.' || path[i] == '[' {
				cut = i
				break
			}
		}
		if cut < 0 {
			return 0
		}
		path = path[:cut]
	}
	return 0
}

// has reports whether the file set the key at path itself (not only an ancestor).
func (s *source) has(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.lines[path]
	return ok
}

func (s *source) fileName() string {
	if s == nil {
		return ""
	}
	return s.file
}

// Load reads the configuration file at path and parses it; see Parse.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(data, path, getenv)
}

// Parse decodes one YAML document into a Config, strictly: unknown keys, values of the wrong
// type, bad durations and unset environment variables are all reported, together, as an
// *Errors whose problems name filename, the line and the key path. ${VAR} and $VAR in scalar
// values are expanded with getenv (nil means an empty environment); $$ is a literal $.
// Connector config blocks are kept as yaml.Node for DecodeStrict. Parse neither applies
// defaults nor validates: call ApplyDefaults and Validate next.
func Parse(data []byte, filename string, getenv func(string) string) (*Config, error) {
	doc, perr := parseDocument(data, filename)
	if perr != nil {
		return nil, &Errors{Problems: []*Problem{perr}}
	}
	cfg := &Config{}
	src := &source{file: filename, lines: map[string]int{}}
	if doc != nil {
		d := newDecoder(filename, getenv, src.lines)
		d.decode(doc, reflect.ValueOf(cfg).Elem(), "", 0)
		if err := d.errs.err(); err != nil {
			return nil, err
		}
	}
	cfg.src = src
	return cfg, nil
}

// parseDocument parses exactly one YAML document; nil, nil for an empty file.
func parseDocument(data []byte, filename string) (doc *yaml.Node, problem *Problem) {
	defer func() {
		// yaml.v3 is third-party code fed operator input: never let it take the process down.
		if r := recover(); r != nil {
			doc, problem = nil, &Problem{File: filename, Message: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxProblem(filename, data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &Problem{File: filename, Line: extra.Line,
			Message: "a second YAML document (---) is not allowed; the configuration is one document"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxProblem(filename, data, err)
	}
	return &n, nil
}

func syntaxProblem(filename string, data []byte, err error) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	// yaml.v3 leaves the line out when the problem is on the first line.
	line := 1
	if m := regexp.MustCompile(`^line (\d+): (.*)$`).FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1]) //nolint:errcheck // the regexp matched digits only
		msg = m[2]
	}
	if strings.Contains(msg, "did not find expected ',' or") && bytes.Contains(data, []byte("${")) {
		msg += ` (inside { } or [ ], quote a value that uses a variable: "${VAR}")`
	}
	return &Problem{File: filename, Line: line, Message: "invalid YAML: " + msg}
}

// Position returns the file and line a key path (e.g. "connectors[2].type") came from, for
// callers that report their own problems about a parsed Config (such as an unknown connector
// type). A path that was not in the file falls back to its nearest ancestor; the line is 0
// when nothing is known, and the file is empty when the Config was not parsed.
func (c *Config) Position(path string) (file string, line int) {
	return c.src.fileName(), c.src.line(path)
}

// LoadSections reads the configuration file at path like Load, but decodes only the named
// top-level sections (such as "storage" and "secrets"): the others are not decoded, so an
// unset ${VAR}, an unknown key or a bad value elsewhere in the file does not stop a command
// that needs only these sections (backup, restore, mfa reset). Check the result with
// ValidateSections.
func LoadSections(path string, getenv func(string) string, sections ...string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return ParseSections(data, path, getenv, sections...)
}

// ParseSections is Parse restricted to the named top-level sections (see LoadSections).
func ParseSections(data []byte, filename string, getenv func(string) string, sections ...string) (*Config, error) {
	doc, perr := parseDocument(data, filename)
	if perr != nil {
		return nil, &Errors{Problems: []*Problem{perr}}
	}
	if doc != nil && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		root := *doc.Content[0]
		root.Content = nil
		all := doc.Content[0].Content
		for i := 0; i+1 < len(all); i += 2 {
			if slices.Contains(sections, all[i].Value) {
				root.Content = append(root.Content, all[i], all[i+1])
			}
		}
		doc = &yaml.Node{Kind: yaml.DocumentNode, Line: doc.Line, Column: doc.Column, Content: []*yaml.Node{&root}}
	}
	cfg := &Config{}
	src := &source{file: filename, lines: map[string]int{}}
	if doc != nil {
		d := newDecoder(filename, getenv, src.lines)
		d.decode(doc, reflect.ValueOf(cfg).Elem(), "", 0)
		if err := d.errs.err(); err != nil {
			return nil, err
		}
	}
	cfg.src = src
	return cfg, nil
}
