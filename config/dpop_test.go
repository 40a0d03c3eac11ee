package config

import (
	"strings"
	"testing"
	"time"
)

// TestDPoPConfig: the dpop block and a client's dpop_bound_access_tokens decode, default, and
// are bounded with file:line errors.
func TestDPoPConfig(t *testing.T) {
	base := "issuer: https://login.example.com\nconnectors: [{type: local, id: local}]\n" +
		"clients: [{id: app, secret: s, redirect_uris: [https://app.example.com/cb], dpop_bound_access_tokens: true}]\n"
	tests := []struct {
		name       string
		yaml       string
		age, skew  time.Duration
		nonce      bool
		wantErrors []string
	}{
		{"defaults", base, 60 * time.Second, 5 * time.Second, false, nil},
		{"set", base + "dpop: {proof_max_age: 2m, proof_max_skew: 10s, nonce: true}\n", 2 * time.Minute, 10 * time.Second, true, nil},
		{"age too long", base + "dpop:\n  proof_max_age: 1h\n", time.Hour, 5 * time.Second, false,
			[]string{"f.yaml:5: dpop.proof_max_age: must be between 1s and 10m"}},
		{"skew too long", base + "dpop:\n  proof_max_skew: 2m\n", time.Minute, 2 * time.Minute, false,
			[]string{"f.yaml:5: dpop.proof_max_skew: must be between 0s and 1m"}},
		{"negative age", base + "dpop:\n  proof_max_age: -1s\n", -time.Second, 5 * time.Second, false,
			[]string{"dpop.proof_max_age: must be between 1s and 10m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml), "f.yaml", nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			cfg.ApplyDefaults()
			if !cfg.Clients[0].DPoPBoundAccessTokens {
				t.Error("dpop_bound_access_tokens not decoded")
			}
			if tt.wantErrors == nil {
				if got := cfg.DPoP; got.ProofMaxAge.D() != tt.age || got.ProofMaxSkew.D() != tt.skew || got.Nonce != tt.nonce {
					t.Errorf("dpop = %+v", got)
				}
			}
			ps := problems(t, cfg.Validate())
			var msgs []string
			for _, p := range ps {
				msgs = append(msgs, p.Error())
			}
			if len(msgs) != len(tt.wantErrors) {
				t.Fatalf("problems %q, want %q", msgs, tt.wantErrors)
			}
			for i, w := range tt.wantErrors {
				if !strings.Contains(msgs[i], w) {
					t.Errorf("problem %q, want it to contain %q", msgs[i], w)
				}
			}
		})
	}
	if _, err := Parse([]byte(base+"dpop: {nonces: true}\n"), "f.yaml", nil); err == nil || !strings.Contains(err.Error(), "nonces") {
		t.Errorf("unknown key in dpop: %v", err)
	}
}
