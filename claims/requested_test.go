package claims

import (
	"reflect"
	"testing"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestIndividualClaims: the claims parameter adds, for a client, only the claims its
// requestable list names, only where the scopes and its own claims do not release them
// already, and never a claim Gatehouse sets itself; ClaimsWith adds their values and
// nothing else.
func TestIndividualClaims(t *testing.T) {
	cfg := &config.Config{
		Scopes: []config.Scope{{Name: "hr", Claims: []string{"department"}}},
		Clients: []config.Client{
			{ID: "app", Claims: config.ClientClaims{Requestable: []string{"email", "department", "name", "sub", "role"},
				Hardcoded: map[string]any{"role": "x"}}},
			{ID: "strict"},
		},
	}
	n, err := New(cfg, Options{Links: newMemLinks()})
	if err != nil {
		t.Fatal(err)
	}
	id := storage.Identity{Subject: "u1", Email: "a@example.org", EmailVerified: true, Name: "Alice",
		Extra: map[string]any{"department": "ops"}}
	tests := []struct {
		name, client    string
		scopes, request []string
		individual      []string
		want            map[string]any // ClaimsWith(individual), without sub
	}{
		{"nothing requested", "app", []string{"openid"}, nil, nil, map[string]any{"role": "x"}},
		{"email without its scope", "app", []string{"openid"}, []string{"email", "email"}, []string{"email"},
			map[string]any{"email": "a@example.org", "role": "x"}},
		{"email with its scope is not individual", "app", []string{"openid", "email"}, []string{"email"}, nil,
			map[string]any{"email": "a@example.org", "email_verified": true, "role": "x"}},
		{"custom claim without its custom scope", "app", []string{"openid"}, []string{"department", "name"}, []string{"department", "name"},
			map[string]any{"department": "ops", "name": "Alice", "role": "x"}},
		{"custom claim with its custom scope", "app", []string{"openid", "hr"}, []string{"department"}, nil,
			map[string]any{"department": "ops", "role": "x"}},
		{"not requestable: absent", "app", []string{"openid"}, []string{"email_verified", "groups", "preferred_username"}, nil,
			map[string]any{"role": "x"}},
		{"reserved or hardcoded claims are never individual", "app", []string{"openid"}, []string{"sub", "role", "acr"}, nil,
			map[string]any{"role": "x"}},
		{"a client without requestable gets nothing more", "strict", []string{"openid"}, []string{"email", "name"}, nil, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := n.IndividualClaims(tt.client, tt.scopes, tt.request)
			if !reflect.DeepEqual(got, tt.individual) {
				t.Errorf("IndividualClaims = %q, want %q", got, tt.individual)
			}
			// ClaimsWith re-checks the policy: passing every requested name adds no more.
			out := n.ClaimsWith(tt.client, id, storage.Authentication{}, tt.scopes, tt.request)
			if !reflect.DeepEqual(out, tt.want) {
				t.Errorf("ClaimsWith = %v, want %v", out, tt.want)
			}
		})
	}
	if d := n.ClaimDescription("email"); d != "Your email address" {
		t.Errorf("ClaimDescription(email) = %q", d)
	}
	if d := n.ClaimDescription("cost_center"); d != "Your cost center" {
		t.Errorf("ClaimDescription(cost_center) = %q", d)
	}
}
