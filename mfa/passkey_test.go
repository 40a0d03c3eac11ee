package mfa

import (
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// TestPasskeyAuthentication: a passkey sign-in is multi-factor and phishing-resistant, and
// satisfies every MFA policy; an upstream cannot claim those acr values for itself.
func TestPasskeyAuthentication(t *testing.T) {
	tests := []struct {
		name    string
		methods []string
		wantACR string
		wantAMR []string
	}{
		{"device-bound credential", []string{AMRHardware, AMRUser}, ACRPhishingResistantHardware, []string{"hwk", "user", "mfa"}},
		{"synced credential", []string{AMRSoftware, AMRUser}, ACRPhishingResistant, []string{"swk", "user", "mfa"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Passkey(storage.Authentication{ConnectorID: "local", AMR: []string{"pwd"}, ACR: ACRPassword}, tt.methods)
			if got.ACR != tt.wantACR || !slices.Equal(got.AMR, tt.wantAMR) || got.ConnectorID != "local" {
				t.Fatalf("Passkey = %+v, want acr %q amr %v", got, tt.wantACR, tt.wantAMR)
			}
			if !Satisfied(got) {
				t.Error("a passkey sign-in does not satisfy MFA")
			}
			for _, req := range []Request{{Connector: Required}, {Client: Required}, {ACRValues: []string{ACRMFA}}, {ACRValues: []string{"phr"}}} {
				if d := Decide(req, got); d != NotNeeded {
					t.Errorf("Decide(%+v) = %v after a passkey, want NotNeeded", req, d)
				}
			}
		})
	}
	// An upstream's phr/phrh is not Gatehouse's, trusted or not.
	for _, trust := range []bool{false, true} {
		if a := Normalize(storage.Authentication{AMR: []string{"hwk"}, ACR: "phrh"}, trust); a.ACR == ACRPhishingResistantHardware || a.ACR == ACRPhishingResistant {
			t.Errorf("Normalize(trust=%v) kept the upstream's acr %q", trust, a.ACR)
		}
	}
	if got := ACRValuesSupported(true); !slices.Contains(got, "phr") || !slices.Contains(got, "phrh") {
		t.Errorf("ACRValuesSupported(true) = %v", got)
	}
	if got := ACRValuesSupported(false); slices.Contains(got, "phr") {
		t.Errorf("ACRValuesSupported(false) = %v advertises passkeys", got)
	}
}

// TestPasskeysNeedWebAuthn: without a WebAuthn RP the passkey methods refuse.
func TestPasskeysNeedWebAuthn(t *testing.T) {
	s, _, _ := newService(t, Options{})
	if s.PasskeysEnabled() {
		t.Fatal("passkeys enabled without WebAuthn")
	}
	if _, _, err := s.BeginPasskeyLogin("req"); !errors.Is(err, ErrPasskeysDisabled) {
		t.Errorf("BeginPasskeyLogin: %v", err)
	}
	if _, err := s.FinishPasskeyLogin(t.Context(), "req", "x", []byte("{}")); !errors.Is(err, ErrPasskeysDisabled) {
		t.Errorf("FinishPasskeyLogin: %v", err)
	}
}

// TestPasskeyLoginState: the state is bound to the auth request it was begun for.
func TestPasskeyLoginState(t *testing.T) {
	s, _, _ := newService(t, Options{WebAuthn: WebAuthnOptions{RPID: "localhost", Origins: []string{"http://localhost:5556"}}})
	_, state, err := s.BeginPasskeyLogin("req-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishPasskeyLogin(t.Context(), "req-2", state, []byte("{}")); !errors.Is(err, ErrExpired) {
		t.Errorf("state of another request: %v, want ErrExpired", err)
	}
	if _, err := s.FinishPasskeyLogin(t.Context(), "req-1", state, []byte("{}")); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("garbage assertion: %v, want ErrInvalidCode", err)
	}
}

// FuzzFinishPasskeyLogin feeds untrusted assertion bytes (the form's credential field) to
// the passkey verification: it must never panic and never sign anyone in.
func FuzzFinishPasskeyLogin(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":"","userHandle":"AAAA"}}`))
	f.Add([]byte(`{"id":"","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0","authenticatorData":"SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ","signature":"MEUCIQ","userHandle":"aGFuZGxl"}}`))
	f.Add([]byte("null"))
	s := newFuzzService(f)
	_, state, err := s.BeginPasskeyLogin("req")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, credential []byte) {
		if _, err := s.FinishPasskeyLogin(t.Context(), "req", state, credential); err == nil {
			t.Fatalf("an assertion without a registered passkey signed in: %q", credential)
		}
	})
}

// newFuzzService is a Service with WebAuthn on localhost over a new SQLite store.
func newFuzzService(tb testing.TB) *Service {
	tb.Helper()
	st, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "mfa.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	s, err := New(Options{Store: st, SecretsKey: testKey, WebAuthn: WebAuthnOptions{RPID: "localhost", Origins: []string{"http://localhost:5556"}}})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
