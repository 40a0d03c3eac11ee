package clients

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"
)

func num(t time.Time) *json.Number {
	n := json.Number(strconv.FormatInt(t.Unix(), 10))
	return &n
}

func TestCheckClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	auds := []string{"https://gh.example", "https://gh.example/token"}
	ok := func() assertionClaims {
		return assertionClaims{Iss: "c", Sub: "c", Aud: audienceClaim{"https://gh.example"}, Exp: num(now.Add(time.Minute)), Jti: "j"}
	}
	tests := []struct {
		name   string
		mutate func(*assertionClaims)
		ok     bool
	}{
		{"valid", func(*assertionClaims) {}, true},
		{"token endpoint aud", func(c *assertionClaims) { c.Aud = audienceClaim{"https://gh.example/token"} }, true},
		{"aud prefix only", func(c *assertionClaims) { c.Aud = audienceClaim{"https://gh.example/"} }, false},
		{"no aud", func(c *assertionClaims) { c.Aud = nil }, false},
		{"iss differs", func(c *assertionClaims) { c.Iss = "d" }, false},
		{"sub differs", func(c *assertionClaims) { c.Sub = "d" }, false},
		{"no jti", func(c *assertionClaims) { c.Jti = "" }, false},
		{"no exp", func(c *assertionClaims) { c.Exp = nil }, false},
		{"expired", func(c *assertionClaims) { c.Exp = num(now.Add(-assertionSkew)) }, false},
		{"within skew", func(c *assertionClaims) { c.Exp = num(now.Add(-assertionSkew / 2)) }, true},
		{"exp at the bound", func(c *assertionClaims) { c.Exp = num(now.Add(maxAssertionLife)) }, true},
		{"exp past the bound", func(c *assertionClaims) { c.Exp = num(now.Add(maxAssertionLife + time.Minute)) }, false},
		{"nbf future", func(c *assertionClaims) { c.Nbf = num(now.Add(time.Minute)) }, false},
		{"iat future", func(c *assertionClaims) { c.Iat = num(now.Add(time.Minute)) }, false},
		{"iat past", func(c *assertionClaims) { c.Iat = num(now.Add(-time.Minute)) }, true},
		{"negative exp", func(c *assertionClaims) { n := json.Number("-5"); c.Exp = &n }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.mutate(&c)
			_, err := checkClaims(c, "c", auds, now)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrAssertion) {
				t.Fatalf("err %v does not wrap ErrAssertion", err)
			}
		})
	}
}

// FuzzParseAssertion: the client assertion parser takes untrusted input before any key is
// known; it must never panic, and what it accepts has exactly one signature.
func FuzzParseAssertion(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJjIiwic3ViIjoiYyIsImF1ZCI6WyJhIiwiYiJdLCJleHAiOjEsImp0aSI6ImoifQ.c2ln")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJqd3QifQ.")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOjF9.AAAA")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		jws, c, err := parseAssertion(raw)
		if err != nil {
			if !errors.Is(err, ErrAssertion) {
				t.Fatalf("error %v does not wrap ErrAssertion", err)
			}
			return
		}
		if len(jws.Signatures) != 1 {
			t.Fatalf("accepted %d signatures", len(jws.Signatures))
		}
		_, _ = checkClaims(c, c.Sub, []string{"x"}, time.Unix(0, 0)) //nolint:errcheck // must not panic; the result is irrelevant
	})
}
