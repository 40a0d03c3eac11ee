package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary documents through Parse, ApplyDefaults, Validate and
// DecodeStrict. None of them may panic, and a failure must always be an *Errors.
func FuzzParse(f *testing.F) {
	seeds := []string{
		fullYAML,
		"",
		"issuer: ${X}\n",
		"issuer: $$\n",
		"clients: &a\n  - *a\n",
		"clients:\n  - &c {id: a}\n  - <<: *c\n    sekret: y\n",
		"a: &a [*a]\n",
		"x: &x {<<: *x}\n",
		"connectors:\n  - id: a\n    type: ldap\n    config: {host: $H, tls: {ca: x}, filters: [{base: b}]}\n",
		"connectors:\n  - id: a\n    config: &c [*c, {extra: [1, 2, *c]}]\n",
		"expiry: {id_tokens: 5x, refresh_tokens: {absolute: -1h}}\n",
		"storage: {config: {port: 99999999999999999999}}\n",
		"--- a\n--- b\n",
		"? [a]\n: b\n",
		"web: !!binary aGVsbG8=\n",
		"users: [{username: u, password_hash: $2a$10$x}]\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	getenv := env(map[string]string{"X": "https://a.example", "H": "h"})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.yaml", getenv)
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.Problems) == 0 {
				t.Fatalf("Parse error %T is not a non-empty *Errors: %v", err, err)
			}
			_ = err.Error()
			return
		}
		cfg.ApplyDefaults()
		if err := cfg.Validate(); err != nil {
			_ = err.Error()
		}
		for i := range cfg.Connectors {
			var dst ldapTest
			if err := DecodeStrict(&cfg.Connectors[i].Config, &dst, "fuzz.yaml", "connectors", getenv); err != nil {
				_ = err.Error()
			}
			var anyDst any
			_ = DecodeStrict(&cfg.Connectors[i].Config, &anyDst, "fuzz.yaml", "connectors", getenv)
		}
	})
}

// FuzzVariableProblems feeds arbitrary documents through VariableProblems, ParseSections
// and the warnings: none may panic; every variable problem has a line and is one Parse
// would also have called a variable problem.
func FuzzVariableProblems(f *testing.F) {
	for _, s := range []string{fullYAML, "", "a: ${X}\nb: [${Y}, $Z]\n", "a: ${\n", "a: ${1x}\n", "a: &a [*a, ${E}]\n", "connectors:\n  - config: {p: ${E}}\n"} {
		f.Add([]byte(s))
	}
	lookup := func(k string) (string, bool) {
		switch k {
		case "X":
			return "x", true
		case "E":
			return "", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range VariableProblems(data, "fuzz.yaml", lookup) {
			if p.Line == 0 || !IsVariableProblem(p) {
				t.Fatalf("variable problem without a line or not recognised: %+v", p)
			}
		}
		if cfg, err := ParseSections(data, "fuzz.yaml", func(string) string { return "" }, "storage", "secrets"); err == nil {
			cfg.ApplyDefaults()
			_ = cfg.ValidateSections()
			_ = cfg.Warnings()
		}
	})
}

// TestVariableProblems: unset, set-but-empty and malformed references, each at its line and
// key path; a literal $$ and a bcrypt hash are not references.
func TestVariableProblems(t *testing.T) {
	doc := "a: ${UNSET}\nb: [x, \"${EMPTY}\"]\nc: {d: $SET}\ne: $$literal\nf: \"$2a$10$abcdefghijklmnopqrstuv\"\ng: ${bad-name}\n"
	lookup := func(k string) (string, bool) {
		switch k {
		case "SET":
			return "v", true
		case "EMPTY":
			return "", true
		}
		return "", false
	}
	var got []string
	for _, p := range VariableProblems([]byte(doc), "v.yaml", lookup) {
		got = append(got, p.Error())
	}
	want := []string{
		"v.yaml:1: a: environment variable UNSET is not set (write $$ for a literal $)",
		"v.yaml:2: b[1]: environment variable EMPTY is set but empty",
		"v.yaml:6: g: invalid variable reference ${bad-name}: a name is letters, digits and _ (write $$ for a literal $)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
