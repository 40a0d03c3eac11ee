package mfa

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

const testKey = "0123456789abcdef0123456789abcdef-test"

// testClock is an adjustable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T, o Options) (*Service, *testClock, storage.Storage) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mfa.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &testClock{t: time.Now().Truncate(time.Hour).Add(7 * time.Second)}
	o.Store = st
	if o.SecretsKey == "" {
		o.SecretsKey = testKey
	}
	o.Now = clk.Now
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, st
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDecide(t *testing.T) {
	pwd := storage.Authentication{AMR: []string{"pwd"}, ACR: ACRPassword}
	done := Upgrade(pwd, AMROTP)
	tests := []struct {
		name string
		req  Request
		auth storage.Authentication
		want Need
	}{
		{"all off", Request{}, pwd, NotNeeded},
		{"connector required", Request{Connector: Required}, pwd, Needed},
		{"client required", Request{Connector: Off, Client: Required}, pwd, Needed},
		{"optional", Request{Connector: Optional}, pwd, IfEnrolled},
		{"stronger of the two", Request{Connector: Optional, Client: Required}, pwd, Needed},
		{"acr_values asks for mfa", Request{ACRValues: []string{ACRMFA}}, pwd, Needed},
		{"acr_values asks for pwd only", Request{ACRValues: []string{ACRPassword}}, pwd, NotNeeded},
		{"already satisfied", Request{Connector: Required, ACRValues: []string{ACRMFA}}, done, NotNeeded},
		{"upstream acr alone is not Gatehouse's", Request{Connector: Required}, storage.Authentication{ACR: "mfa"}, Needed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.req, tt.auth); got != tt.want {
				t.Errorf("Decide = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		in      storage.Authentication
		trust   bool
		wantACR string
		wantAMR []string
	}{
		{"password", storage.Authentication{AMR: []string{"pwd"}}, false, ACRPassword, []string{"pwd"}},
		{"upstream mfa trusted", storage.Authentication{AMR: []string{"pwd", "otp"}}, true, ACRMFA, []string{"pwd", "otp", "mfa"}},
		{"upstream mfa acr trusted", storage.Authentication{AMR: []string{"fed"}, ACR: "http://schemas.openid.net/pape/policies/2007/06/multi-factor"}, true, ACRMFA, []string{"fed", "mfa"}},
		// Attack (issue 25.9): an untrusted upstream's otp (and hwk, mfa) reached the tokens.
		{"upstream mfa untrusted", storage.Authentication{AMR: []string{"pwd", "otp", "mfa"}, ACR: ACRMFA}, false, ACRPassword, []string{"pwd"}},
		{"upstream methods untrusted", storage.Authentication{AMR: []string{"hwk", "otp", "sms"}}, false, ACRPassword, []string{}},
		{"federated untrusted", storage.Authentication{AMR: []string{"fed", "mfa"}, ACR: "urn:x:mfa"}, false, ACRPassword, []string{"fed"}},
		{"trusted but single factor", storage.Authentication{AMR: []string{"pwd"}, ACR: "1"}, true, ACRPassword, []string{"pwd"}},
		{"one strong method alone", storage.Authentication{AMR: []string{"hwk"}}, true, ACRPassword, []string{"hwk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Normalize(tt.in, tt.trust)
			if got.ACR != tt.wantACR || !slices.Equal(got.AMR, tt.wantAMR) {
				t.Errorf("Normalize = acr %q amr %v, want %q %v", got.ACR, got.AMR, tt.wantACR, tt.wantAMR)
			}
		})
	}
	up := Upgrade(storage.Authentication{AMR: []string{"pwd"}, ACR: ACRPassword}, AMRHardware)
	if up.ACR != ACRMFA || !slices.Equal(up.AMR, []string{"pwd", "hwk", "mfa"}) {
		t.Errorf("Upgrade = %+v", up)
	}
}

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    Policy
		wantErr bool
	}{
		{"", Off, false}, {"off", Off, false}, {"optional", Optional, false}, {"required", Required, false}, {"yes", Off, true},
	}
	for _, tt := range tests {
		got, err := ParsePolicy(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParsePolicy(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestSeal(t *testing.T) {
	a, err := newSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSealer(testKey + "-other")
	if err != nil {
		t.Fatal(err)
	}
	sealed := a.seal([]byte("secret"), "p1")
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("sealed value contains the plain text")
	}
	if got, err := a.open(sealed, "p1"); err != nil || string(got) != "secret" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := a.open(sealed, "p2"); err == nil {
		t.Error("opened for another purpose")
	}
	if _, err := b.open(sealed, "p1"); err == nil {
		t.Error("opened with another key")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := a.open(sealed, "p1"); err == nil {
		t.Error("opened a tampered value")
	}
	if _, err := newSealer("short"); err == nil {
		t.Error("a short key was accepted")
	}
	now := time.Now()
	st, err := a.sealState("x", map[string]string{"k": "v"}, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	if err := a.openState("x", st, now, &v); err != nil || v["k"] != "v" {
		t.Fatalf("openState = %v, %v", v, err)
	}
	if err := a.openState("x", st, now.Add(2*time.Minute), &v); !errors.Is(err, ErrExpired) {
		t.Errorf("expired state: %v", err)
	}
	if err := a.openState("y", st, now, &v); err == nil {
		t.Error("state opened for another purpose")
	}
}

func TestTOTP(t *testing.T) {
	s, clk, st := newService(t, Options{IssuerName: "Example Corp"})
	ctx := context.Background()
	u := User{ID: "user-1", Name: "alice@example.com", DisplayName: "Alice"}

	setup, err := s.BeginTOTP(u)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(setup.URL, "otpauth://totp/Example%20Corp:alice@example.com?") || !strings.Contains(setup.URL, "secret="+setup.Secret) {
		t.Errorf("URL = %s", setup.URL)
	}
	img, err := QRCodePNG(setup.URL, 200)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(img)); err != nil || cfg.Width != 200 {
		t.Errorf("QR PNG: %+v, %v", cfg, err)
	}
	again, err := s.ResumeTOTP(u, setup.State)
	if err != nil || again.Secret != setup.Secret {
		t.Fatalf("ResumeTOTP = %+v, %v", again, err)
	}
	if _, err := s.ResumeTOTP(User{ID: "user-2"}, setup.State); err == nil {
		t.Error("another user resumed the setup")
	}

	if _, err := s.FinishTOTP(ctx, u, setup.State, "Phone", "000000"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("FinishTOTP with a wrong code: %v", err)
	}
	first := code(t, setup.Secret, clk.Now())
	f, err := s.FinishTOTP(ctx, u, setup.State, "Phone", first)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(f.Secret, []byte(setup.Secret)) {
		t.Error("the stored factor holds the clear secret")
	}
	status, err := s.Status(ctx, u.ID)
	if err != nil || !status.Enrolled() || !status.Has(storage.MFATypeTOTP) || status.Has(storage.MFATypeWebAuthn) {
		t.Fatalf("Status = %+v, %v", status, err)
	}

	// The enrolment code is used: logging in with it is a replay.
	if err := s.VerifyTOTP(ctx, u.ID, first); !errors.Is(err, ErrReplayed) {
		t.Errorf("VerifyTOTP(enrolment code) = %v, want ErrReplayed", err)
	}
	clk.Advance(30 * time.Second)
	next := code(t, setup.Secret, clk.Now())
	if err := s.VerifyTOTP(ctx, u.ID, next[:3]+" "+next[3:]); err != nil {
		t.Fatalf("VerifyTOTP(next step) = %v", err)
	}
	if err := s.VerifyTOTP(ctx, u.ID, next); !errors.Is(err, ErrReplayed) {
		t.Errorf("VerifyTOTP replayed = %v, want ErrReplayed", err)
	}
	if err := s.VerifyTOTP(ctx, u.ID, "123"); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("VerifyTOTP short = %v", err)
	}
	clk.Advance(5 * time.Minute)
	if err := s.VerifyTOTP(ctx, u.ID, next); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("VerifyTOTP with an old code = %v, want ErrInvalidCode", err)
	}
	// Skew: the previous step's code is still accepted (once).
	prev := code(t, setup.Secret, clk.Now().Add(-30*time.Second))
	if err := s.VerifyTOTP(ctx, u.ID, prev); err != nil {
		t.Errorf("VerifyTOTP(previous step) = %v", err)
	}
	if err := s.VerifyTOTP(ctx, "user-2", code(t, setup.Secret, clk.Now())); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("another user's code = %v", err)
	}
	// A state from another key does not open.
	other, _, _ := newService(t, Options{SecretsKey: testKey + "-different"})
	if _, err := other.FinishTOTP(ctx, u, setup.State, "", first); err == nil {
		t.Error("another key opened the setup state")
	}

	if err := s.RemoveFactor(ctx, u.ID, f.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveFactor(ctx, u.ID, f.ID); !errors.Is(err, ErrNoFactor) {
		t.Errorf("RemoveFactor twice = %v", err)
	}
	_ = st
}

func TestRecoveryCodes(t *testing.T) {
	s, _, _ := newService(t, Options{})
	ctx := context.Background()
	u := User{ID: "rc-user", Name: "bob"}
	codes, err := s.NewRecoveryCodes(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount || len(codes[0]) != 11 || codes[0][5] != '-' {
		t.Fatalf("codes = %v", codes)
	}
	if err := s.UseRecoveryCode(ctx, u.ID, strings.ToUpper(codes[3])); err != nil {
		t.Fatalf("UseRecoveryCode = %v", err)
	}
	if err := s.UseRecoveryCode(ctx, u.ID, codes[3]); !errors.Is(err, ErrReplayed) {
		t.Errorf("second use = %v, want ErrReplayed", err)
	}
	if err := s.UseRecoveryCode(ctx, "someone-else", codes[4]); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("another user's use = %v, want ErrInvalidCode", err)
	}
	if err := s.UseRecoveryCode(ctx, u.ID, "zzzzz-zzzzz"); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("unknown code = %v, want ErrInvalidCode", err)
	}
	st, err := s.Status(ctx, u.ID)
	if err != nil || st.RecoveryCodes != RecoveryCodeCount-1 {
		t.Errorf("Status = %+v, %v", st, err)
	}
	fresh, err := s.NewRecoveryCodes(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseRecoveryCode(ctx, u.ID, codes[4]); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("old code after regeneration = %v", err)
	}
	if err := s.UseRecoveryCode(ctx, u.ID, fresh[0]); err != nil {
		t.Errorf("new code = %v", err)
	}
	if err := s.Reset(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.UseRecoveryCode(ctx, u.ID, fresh[1]); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("code after reset = %v", err)
	}
	if err := s.Reset(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second reset = %v", err)
	}
}

func TestLimits(t *testing.T) {
	s, clk, _ := newService(t, Options{MaxUserFailures: 3, MaxIPFailures: 5, Window: time.Minute})
	ctx := t.Context()
	reserve := func(user, ip string, want bool) Attempt {
		t.Helper()
		a, ok, err := s.Reserve(ctx, user, ip)
		if err != nil || ok != want {
			t.Fatalf("Reserve(%s, %s) = %v, %v; want %v", user, ip, ok, err, want)
		}
		return a
	}
	for range 3 {
		reserve("u1", "1.2.3.4", true)
	}
	reserve("u1", "5.6.7.8", false)
	reserve("u2", "1.2.3.4", true)
	a := reserve("u3", "1.2.3.4", true)
	reserve("u4", "1.2.3.4", false)
	// An attempt that checked nothing is given back to the IP's budget.
	if err := s.Unused(ctx, a); err != nil {
		t.Fatal(err)
	}
	reserve("u4", "1.2.3.4", true)
	clk.Advance(time.Minute)
	reserve("u1", "1.2.3.4", true)
	reserve("u1", "", true)
	ok := reserve("u1", "", true)
	reserve("u1", "", false)
	if err := s.Succeeded(ctx, ok); err != nil {
		t.Fatal(err)
	}
	reserve("u1", "", true)
}

func TestNeedsAttemptStore(t *testing.T) {
	// A store without attempt budgets is refused rather than limiting nothing.
	_, err := New(Options{Store: mfaOnly{}, SecretsKey: testKey})
	if err == nil || !strings.Contains(err.Error(), "RateLimitStore") {
		t.Fatalf("New without a RateLimitStore = %v", err)
	}
}

// mfaOnly is an MFAStore that keeps no attempt budgets.
type mfaOnly struct{ storage.MFAStore }

func TestWebAuthnOptions(t *testing.T) {
	s, _, _ := newService(t, Options{})
	ctx := context.Background()
	u := User{ID: "wa-user", Name: "carol"}
	if s.WebAuthnEnabled() {
		t.Fatal("WebAuthn enabled without configuration")
	}
	if _, _, err := s.BeginWebAuthnRegistration(ctx, u); !errors.Is(err, ErrWebAuthnDisabled) {
		t.Errorf("BeginWebAuthnRegistration without config = %v", err)
	}
	if _, err := New(Options{Store: s.store, SecretsKey: testKey, WebAuthn: WebAuthnOptions{RPID: "127.0.0.1", Origins: []string{"http://127.0.0.1"}}}); err == nil {
		t.Error("an IP address was accepted as RP ID")
	}
	w, _, _ := newService(t, Options{WebAuthn: WebAuthnOptions{RPID: "localhost", RPName: "Example", Origins: []string{"http://localhost:5556"}}})
	opts, state, err := w.BeginWebAuthnRegistration(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"publicKey"`, `"challenge"`, `"rp":{"name":"Example","id":"localhost"}`, `"name":"carol"`} {
		if !bytes.Contains(opts, []byte(want)) {
			t.Errorf("creation options lack %s: %s", want, opts)
		}
	}
	if _, err := w.FinishWebAuthnRegistration(ctx, u, state, "", []byte(`{}`)); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("FinishWebAuthnRegistration with garbage = %v", err)
	}
	if _, err := w.FinishWebAuthnRegistration(ctx, User{ID: "other"}, state, "", []byte(`{}`)); err == nil || errors.Is(err, ErrInvalidCode) {
		t.Errorf("another user's state = %v", err)
	}
	if _, _, err := w.BeginWebAuthnLogin(ctx, u); !errors.Is(err, ErrNoFactor) {
		t.Errorf("BeginWebAuthnLogin without credentials = %v", err)
	}
}
