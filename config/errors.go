package config

import (
	"strconv"
	"strings"
)

// Problem is one configuration problem: where it is and what is wrong.
type Problem struct {
	// File is the configuration file name; empty when the Config was not parsed from a file.
	File string
	// Line is the 1-based line in File; 0 when unknown.
	Line int
	// Path is the key path, e.g. "clients[1].redirect_uris[0]"; empty for the document itself.
	Path string
	// Message says what is wrong, in words an operator can act on.
	Message string
	// Err is the underlying cause, if any (for example a *strconv.NumError).
	Err error
}

// Error formats the problem as "file:line: path: message[: cause]", leaving out unknown parts.
func (p *Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Err != nil {
		b.WriteString(": ")
		b.WriteString(p.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (p *Problem) Unwrap() error { return p.Err }

// Errors is every problem found in one pass over a configuration. Parse, Load, DecodeStrict
// and Validate return a non-empty *Errors, never a partial list.
type Errors struct {
	Problems []*Problem
}

// Error prints one problem per line.
func (e *Errors) Error() string {
	if e == nil || len(e.Problems) == 0 {
		return "no configuration problems"
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so errors.As can reach a *Problem and errors.Is its cause.
func (e *Errors) Unwrap() []error {
	if e == nil {
		return nil
	}
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

func (e *Errors) add(p *Problem) { e.Problems = append(e.Problems, p) }

// err returns e as an error, or nil when it holds no problem.
func (e *Errors) err() error {
	if e == nil || len(e.Problems) == 0 {
		return nil
	}
	return e
}
