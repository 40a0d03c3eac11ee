package config

import (
	"errors"
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
