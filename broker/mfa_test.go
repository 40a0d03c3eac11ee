package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// mfaEnv is a running broker with the MFA step: the local connector's policy and the
// clients' policies are set by the test.
type mfaEnv struct {
	*env
	svc *mfa.Service
}

// payrollID is a client that requires a second factor.
const (
	payrollID       = "payroll"
	payrollSecret   = "payroll-secret-0123456789"
	payrollRedirect = "http://127.0.0.1:9997/cb"
)

// newMFAEnv builds it; opts may change the mfa.Options (knowing the issuer).
func newMFAEnv(t *testing.T, connectorPolicy mfa.Policy, opts ...func(issuer string, o *mfa.Options)) *mfaEnv {
	t.Helper()
	var svc *mfa.Service
	s := brokertest.New(t, brokertest.Options{
		Config: func(cfg *config.Config) {
			cfg.Signing.Algorithm = "ES256"
			cfg.Connectors[0].MFA = string(connectorPolicy)
			cfg.MFA = config.MFA{IssuerName: "Example Corp", SecretsKey: "test-secrets-key-0123456789abcdef"}
			cfg.Users = []config.User{{Username: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice Example", PasswordHash: aliceHash}}
			cfg.Clients = []config.Client{
				{ID: confidentialID, Secret: confidentialSecret, Name: "Web App", RedirectURIs: []string{redirectURI}},
				{ID: payrollID, Secret: payrollSecret, Name: "Payroll", RedirectURIs: []string{payrollRedirect}, MFA: string(mfa.Required)},
			}
		},
		Deps: func(d *broker.Deps) {
			svc = d.MFA.Service
			if len(opts) == 0 {
				return
			}
			mo := mfa.Options{Store: d.Storage.(storage.MFAStore), IssuerName: "Example Corp", SecretsKey: "test-secrets-key-0123456789abcdef", Now: d.Now}
			for _, o := range opts {
				o(d.Issuer, &mo)
			}
			var err error
			if svc, err = mfa.New(mo); err != nil {
				t.Fatal(err)
			}
			d.MFA.Service = svc
		},
	})
	return &mfaEnv{env: envOf(t, s), svc: svc}
}

var (
	secretRe  = regexp.MustCompile(`<code data-secret>([A-Z2-7]+)</code>`)
	codesRe   = regexp.MustCompile(`<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>`)
	anyFormRe = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
)

// formWith returns the action and hidden fields of the page's form whose action field is
// action (the MFA pages have several forms).
func formWith(t testing.TB, body, action string) (string, url.Values) {
	t.Helper()
	for _, m := range anyFormRe.FindAllStringSubmatch(body, -1) {
		_, vals := form(t, m[0])
		if vals.Get("action") == action {
			return m[1], vals
		}
	}
	t.Fatalf("no form with action=%s in page:\n%s", action, body)
	return "", nil
}

func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// authURL starts an authorization request of the client with PKCE; extra adds parameters.
func (e *mfaEnv) authURL(r *rp, verifier string, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce("n0nce"), oauth2.S256ChallengeOption(verifier)}, extra...)
	return r.oauth.AuthCodeURL("st4te", opts...)
}

// passwordStep submits alice's password and returns the page it leads to.
func (e *mfaEnv) passwordStep(b *browser, authURL string) (page, string) {
	e.t.Helper()
	p, at := b.follow(e.env, b.get(authURL), authURL)
	if !strings.Contains(p.body, `name="password"`) {
		e.t.Fatalf("expected the login page, got %d at %s:\n%s", p.status, at, p.body)
	}
	action, vals := form(e.t, p.body)
	vals.Set("username", "alice")
	vals.Set("password", alicePassword)
	return b.follow(e.env, b.post(e.issuer+action, vals), e.issuer+action)
}

// submitMFA posts the MFA page's form with the given action and fields.
func (e *mfaEnv) submitMFA(b *browser, p page, action string, fields map[string]string) page {
	e.t.Helper()
	to, vals := formWith(e.t, p.body, action)
	for k, v := range fields {
		vals.Set(k, v)
	}
	return b.post(e.issuer+to, vals)
}

// consentAndCode allows consent (when asked) and returns the callback's query.
func (e *mfaEnv) consentAndCode(b *browser, p page, at string) url.Values {
	e.t.Helper()
	p, at = b.follow(e.env, p, at)
	if strings.Contains(p.body, `value="allow"`) {
		action, vals := form(e.t, p.body)
		vals.Set("decision", "allow")
		p, at = b.follow(e.env, b.post(e.issuer+action, vals), e.issuer+action)
	}
	if p.status < 300 || p.status >= 400 {
		e.t.Fatalf("expected a redirect to the client, got %d at %s:\n%s", p.status, at, p.body)
	}
	q := callbackParams(e.t, at)
	if q.Get("code") == "" {
		e.t.Fatalf("no code in the callback %s", at)
	}
	return q
}

type authClaims struct {
	Sub string   `json:"sub"`
	AMR []string `json:"amr"`
	ACR string   `json:"acr"`
}

// exchange redeems the code and returns the ID token's sub, amr and acr.
func (e *mfaEnv) exchange(r *rp, code, verifier string) authClaims {
	e.t.Helper()
	tok, err := r.oauth.Exchange(r.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		e.t.Fatalf("exchange: %v", err)
	}
	idt, err := r.verifier.Verify(r.ctx, tok.Extra("id_token").(string))
	if err != nil {
		e.t.Fatalf("verify id token: %v", err)
	}
	var cl authClaims
	if err := idt.Claims(&cl); err != nil {
		e.t.Fatal(err)
	}
	return cl
}

func wantAuth(t *testing.T, what string, got authClaims, acr string, amr ...string) {
	t.Helper()
	if got.ACR != acr {
		t.Errorf("%s: acr = %q, want %q", what, got.ACR, acr)
	}
	for _, m := range amr {
		if !slices.Contains(got.AMR, m) {
			t.Errorf("%s: amr = %v, want it to contain %q", what, got.AMR, m)
		}
	}
	if acr == mfa.ACRPassword && slices.Contains(got.AMR, "mfa") {
		t.Errorf("%s: amr = %v claims mfa without a second factor", what, got.AMR)
	}
}

// enrolTOTP drives a required-MFA first login through TOTP enrolment and returns the
// secret, the recovery codes and the tokens' claims.
func (e *mfaEnv) enrolTOTP(t *testing.T, b *browser, r *rp) (string, []string, authClaims) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	p, at := e.passwordStep(b, e.authURL(r, verifier))
	if !strings.Contains(at, "/mfa?req=") || !strings.Contains(p.body, "Set up two-step verification") {
		t.Fatalf("expected the enrolment page, got %d at %s:\n%s", p.status, at, p.body)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("enrolment page CSP = %q", csp)
	}
	if !strings.Contains(p.body, `<img src="data:image/png;base64,`) {
		t.Error("the enrolment page has no QR code image")
	}
	m := secretRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no manual key on the enrolment page:\n%s", p.body)
	}
	secret := m[1]
	bad := e.submitMFA(b, p, "enrol-totp", map[string]string{"code": "000000"})
	if bad.status != http.StatusUnauthorized || !strings.Contains(bad.body, "did not work") {
		t.Fatalf("wrong enrolment code: %d\n%s", bad.status, bad.body)
	}
	if m := secretRe.FindStringSubmatch(bad.body); m == nil || m[1] != secret {
		t.Fatal("the secret changed after a wrong code")
	}
	p = e.submitMFA(b, bad, "enrol-totp", map[string]string{"code": totpCode(t, secret, e.clock.Now()), "name": "Phone"})
	codes := codesRe.FindAllStringSubmatch(p.body, -1)
	if p.status != http.StatusOK || len(codes) != mfa.RecoveryCodeCount {
		t.Fatalf("expected the recovery codes page, got %d:\n%s", p.status, p.body)
	}
	var rc []string
	for _, c := range codes {
		rc = append(rc, c[1])
	}
	p = e.submitMFA(b, p, "continue", nil)
	q := e.consentAndCode(b, p, e.issuer+"/mfa")
	return secret, rc, e.exchange(r, q.Get("code"), verifier)
}

// TestMFATOTPEnrolmentAndLogin: a connector that requires MFA makes a new user enrol an
// authenticator app (QR code and manual key), shows recovery codes once, and then asks for a
// code at every login; a code is accepted once; a recovery code works once.
func TestMFATOTPEnrolmentAndLogin(t *testing.T) {
	e := newMFAEnv(t, mfa.Required)
	r := e.rp(confidentialID, confidentialSecret, redirectURI)

	secret, recovery, cl := e.enrolTOTP(t, e.browser(), r)
	wantAuth(t, "after enrolment", cl, mfa.ACRMFA, "pwd", "otp", "mfa")

	// The enrolment code's step is used; the next step's code signs in, once.
	e.clock.Advance(30 * time.Second)
	verifier := oauth2.GenerateVerifier()
	b := e.browser()
	p, at := e.passwordStep(b, e.authURL(r, verifier))
	if !strings.Contains(at, "/mfa?req=") || !strings.Contains(p.body, `value="totp"`) || strings.Contains(p.body, "Set up") {
		t.Fatalf("expected the code prompt, got %d at %s:\n%s", p.status, at, p.body)
	}
	code := totpCode(t, secret, e.clock.Now())
	p = e.submitMFA(b, p, "totp", map[string]string{"code": code})
	q := e.consentAndCode(b, p, e.issuer+"/mfa")
	wantAuth(t, "TOTP login", e.exchange(r, q.Get("code"), verifier), mfa.ACRMFA, "pwd", "otp", "mfa")

	// The same code again, in another browser within its window: refused as a replay.
	b2 := e.browser()
	p, _ = e.passwordStep(b2, e.authURL(r, oauth2.GenerateVerifier()))
	p = e.submitMFA(b2, p, "totp", map[string]string{"code": code})
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "already used") {
		t.Fatalf("replayed code: %d\n%s", p.status, p.body)
	}

	// A recovery code instead of the app: accepted once.
	verifier = oauth2.GenerateVerifier()
	b3 := e.browser()
	p, _ = e.passwordStep(b3, e.authURL(r, verifier))
	p = e.submitMFA(b3, p, "recovery", map[string]string{"code": strings.ToUpper(recovery[0])})
	q = e.consentAndCode(b3, p, e.issuer+"/mfa")
	wantAuth(t, "recovery code login", e.exchange(r, q.Get("code"), verifier), mfa.ACRMFA, "otp", "mfa")
	b4 := e.browser()
	p, _ = e.passwordStep(b4, e.authURL(r, oauth2.GenerateVerifier()))
	p = e.submitMFA(b4, p, "recovery", map[string]string{"code": recovery[0]})
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "already used") {
		t.Fatalf("reused recovery code: %d\n%s", p.status, p.body)
	}

	// The CSRF token is checked.
	to, vals := formWith(t, p.body, "totp")
	vals.Set("csrf", "forged")
	vals.Set("code", totpCode(t, secret, e.clock.Now()))
	if p := b4.post(e.issuer+to, vals); p.status != http.StatusForbidden {
		t.Errorf("forged CSRF token: %d", p.status)
	}
}

// TestMFAWrongCodesRateLimited: after five wrong codes even the right one is refused.
func TestMFAWrongCodesRateLimited(t *testing.T) {
	e := newMFAEnv(t, mfa.Required)
	r := e.rp(confidentialID, confidentialSecret, redirectURI)
	secret, _, _ := e.enrolTOTP(t, e.browser(), r)
	e.clock.Advance(30 * time.Second)

	b := e.browser()
	p, _ := e.passwordStep(b, e.authURL(r, oauth2.GenerateVerifier()))
	for i := range 5 {
		p = e.submitMFA(b, p, "totp", map[string]string{"code": "999999"})
		if p.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: status %d", i+1, p.status)
		}
	}
	p = e.submitMFA(b, p, "totp", map[string]string{"code": totpCode(t, secret, e.clock.Now())})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Fatalf("sixth attempt: %d, want 429 with Retry-After\n%s", p.status, p.body)
	}
	// After the window the right code works.
	e.clock.Advance(16 * time.Minute)
	verifier := oauth2.GenerateVerifier()
	b2 := e.browser()
	p, _ = e.passwordStep(b2, e.authURL(r, verifier))
	p = e.submitMFA(b2, p, "totp", map[string]string{"code": totpCode(t, secret, e.clock.Now())})
	q := e.consentAndCode(b2, p, e.issuer+"/mfa")
	wantAuth(t, "after the window", e.exchange(r, q.Get("code"), verifier), mfa.ACRMFA, "otp")
}

// TestMFAStepUp: a session without a second factor, then a client that requires one (or an
// acr_values asking for it) is prompted for the second factor, not the password; the tokens'
// amr/acr say what happened; prompt=none cannot step up.
func TestMFAStepUp(t *testing.T) {
	e := newMFAEnv(t, mfa.Off)
	web := e.rp(confidentialID, confidentialSecret, redirectURI)
	payroll := e.rp(payrollID, payrollSecret, payrollRedirect)
	b := e.browser()

	verifier := oauth2.GenerateVerifier()
	p, at := e.passwordStep(b, e.authURL(web, verifier))
	q := e.consentAndCode(b, p, at)
	first := e.exchange(web, q.Get("code"), verifier)
	wantAuth(t, "password only", first, mfa.ACRPassword, "pwd")

	// Alice already has an authenticator app.
	u := mfa.User{ID: first.Sub, Name: "alice"}
	setup, err := e.svc.BeginTOTP(u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.FinishTOTP(context.Background(), u, setup.State, "Phone", totpCode(t, setup.Secret, e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second)

	// prompt=none cannot show the MFA step.
	none := e.authURL(payroll, oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("prompt", "none"))
	p = b.get(none)
	if q := callbackParams(t, p.location); q.Get("error") != "interaction_required" {
		t.Fatalf("prompt=none step-up: %d %s", p.status, p.location)
	}

	// Payroll requires MFA: the SSO session is not enough, the user is asked for a code only.
	verifier = oauth2.GenerateVerifier()
	u2 := e.authURL(payroll, verifier)
	p, at = b.follow(e.env, b.get(u2), u2)
	if !strings.Contains(at, "/mfa?req=") || strings.Contains(p.body, `name="password"`) || !strings.Contains(p.body, "confirm it is you") {
		t.Fatalf("expected a step-up prompt, got %d at %s:\n%s", p.status, at, p.body)
	}
	p = e.submitMFA(b, p, "totp", map[string]string{"code": totpCode(t, setup.Secret, e.clock.Now())})
	q = e.consentAndCode(b, p, e.issuer+"/mfa")
	stepped := e.exchange(payroll, q.Get("code"), verifier)
	wantAuth(t, "after step-up", stepped, mfa.ACRMFA, "pwd", "otp", "mfa")
	if stepped.Sub != first.Sub {
		t.Errorf("step-up changed the subject: %s -> %s", first.Sub, stepped.Sub)
	}

	// The session now carries the second factor: payroll again goes straight through, and
	// the web app asking acr_values=mfa too.
	for _, c := range []struct {
		r     *rp
		extra []oauth2.AuthCodeOption
	}{{payroll, nil}, {web, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("acr_values", mfa.ACRMFA)}}} {
		verifier = oauth2.GenerateVerifier()
		u := e.authURL(c.r, verifier, c.extra...)
		q = e.consentAndCode(b, b.get(u), u)
		wantAuth(t, "upgraded session", e.exchange(c.r, q.Get("code"), verifier), mfa.ACRMFA, "otp", "mfa")
	}

	// Another browser with a password-only session: acr_values asking for MFA steps up.
	b2 := e.browser()
	verifier = oauth2.GenerateVerifier()
	p, at = e.passwordStep(b2, e.authURL(web, verifier))
	q = e.consentAndCode(b2, p, at)
	wantAuth(t, "second browser", e.exchange(web, q.Get("code"), verifier), mfa.ACRPassword, "pwd")
	e.clock.Advance(30 * time.Second)
	verifier = oauth2.GenerateVerifier()
	u3 := e.authURL(web, verifier, oauth2.SetAuthURLParam("acr_values", mfa.ACRMFA))
	p, at = b2.follow(e.env, b2.get(u3), u3)
	if !strings.Contains(at, "/mfa?req=") {
		t.Fatalf("acr_values step-up: got %d at %s", p.status, at)
	}
	p = e.submitMFA(b2, p, "totp", map[string]string{"code": totpCode(t, setup.Secret, e.clock.Now())})
	q = e.consentAndCode(b2, p, e.issuer+"/mfa")
	wantAuth(t, "acr_values step-up", e.exchange(web, q.Get("code"), verifier), mfa.ACRMFA, "otp", "mfa")

	var d map[string]any
	resp, err := http.Get(e.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if got, _ := d["acr_values_supported"].([]any); len(got) != 2 || got[1] != mfa.ACRMFA {
		t.Errorf("acr_values_supported = %v", d["acr_values_supported"])
	}
}

// TestMFAAccount: the self-service page needs the session, lists factors, adds an
// authenticator app, regenerates recovery codes, and refuses to remove the last factor when
// the connector requires one.
func TestMFAAccount(t *testing.T) {
	e := newMFAEnv(t, mfa.Required)
	r := e.rp(confidentialID, confidentialSecret, redirectURI)
	if p := e.browser().get(e.issuer + "/account"); p.status != http.StatusSeeOther || !strings.Contains(p.location, "/login") {
		t.Fatalf("account without a session: %d to %q, want the login", p.status, p.location)
	}
	b := e.browser()
	_, _, _ = e.enrolTOTP(t, b, r)

	p := b.get(e.issuer + "/account")
	if p.status != http.StatusOK || !strings.Contains(p.body, "Phone") || !strings.Contains(p.body, "10 unused recovery codes") {
		t.Fatalf("account page: %d\n%s", p.status, p.body)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:") {
		t.Errorf("account CSP = %q", csp)
	}
	// The only factor cannot go: the connector requires one.
	rm := e.submitMFA(b, p, "remove", nil)
	if rm.status != http.StatusConflict || !strings.Contains(rm.body, "only second factor") {
		t.Fatalf("removing the last factor: %d\n%s", rm.status, rm.body)
	}
	// Forged CSRF.
	to, vals := formWith(t, p.body, "regenerate")
	vals.Set("csrf", "x")
	if p := b.post(e.issuer+to, vals); p.status != http.StatusForbidden {
		t.Errorf("forged CSRF on account: %d", p.status)
	}

	// Add a second authenticator app.
	p = b.get(e.issuer + "/account?add=totp")
	m := secretRe.FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(p.body, `<img src="data:image/png;base64,`) {
		t.Fatalf("add TOTP page:\n%s", p.body)
	}
	bad := e.submitMFA(b, p, "add-totp", map[string]string{"code": "123456"})
	if bad.status != http.StatusBadRequest {
		t.Fatalf("wrong code on add: %d", bad.status)
	}
	p = e.submitMFA(b, bad, "add-totp", map[string]string{"code": totpCode(t, m[1], e.clock.Now()), "name": "Tablet"})
	p, _ = b.follow(e.env, p, e.issuer+"/account")
	if !strings.Contains(p.body, "Tablet") || !strings.Contains(p.body, "ready to use") {
		t.Fatalf("after adding: %d\n%s", p.status, p.body)
	}
	// Now one can go.
	p = e.submitMFA(b, p, "remove", nil)
	p, _ = b.follow(e.env, p, e.issuer+"/account")
	if !strings.Contains(p.body, "was removed") || strings.Count(p.body, `name="factor"`) != 1 {
		t.Fatalf("after removing: %d\n%s", p.status, p.body)
	}
	// New recovery codes, shown once.
	p = e.submitMFA(b, p, "regenerate", nil)
	if got := codesRe.FindAllStringSubmatch(p.body, -1); p.status != http.StatusOK || len(got) != mfa.RecoveryCodeCount {
		t.Fatalf("regenerate: %d\n%s", p.status, p.body)
	}
}

// TestMFAReset: after an operator reset the user enrols again.
func TestMFAReset(t *testing.T) {
	e := newMFAEnv(t, mfa.Required)
	r := e.rp(confidentialID, confidentialSecret, redirectURI)
	_, _, cl := e.enrolTOTP(t, e.browser(), r)
	if err := e.svc.Reset(context.Background(), cl.Sub); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	p, at := e.passwordStep(b, e.authURL(r, oauth2.GenerateVerifier()))
	if !strings.Contains(at, "/mfa?req=") || !strings.Contains(p.body, "Set up two-step verification") {
		t.Fatalf("after reset: %d at %s", p.status, at)
	}
}

// TestMFAAccountVerify: a session that did not use the user's factor cannot change factors
// until the user verifies on the account page, which upgrades the session.
func TestMFAAccountVerify(t *testing.T) {
	e := newMFAEnv(t, mfa.Off)
	web := e.rp(confidentialID, confidentialSecret, redirectURI)
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	p, at := e.passwordStep(b, e.authURL(web, verifier))
	first := e.exchange(web, e.consentAndCode(b, p, at).Get("code"), verifier)
	u := mfa.User{ID: first.Sub, Name: "alice"}
	setup, err := e.svc.BeginTOTP(u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.FinishTOTP(context.Background(), u, setup.State, "Phone", totpCode(t, setup.Secret, e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.NewRecoveryCodes(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second)

	p = b.get(e.issuer + "/account")
	if p.status != http.StatusOK || !strings.Contains(p.body, "Verify it is you") || strings.Contains(p.body, `value="remove"`) {
		t.Fatalf("locked account page: %d\n%s", p.status, p.body)
	}
	// Changing anything is refused.
	to, vals := formWith(t, p.body, "verify-totp")
	vals.Set("action", "regenerate")
	if got := b.post(e.issuer+to, vals); got.status != http.StatusForbidden {
		t.Fatalf("regenerate from a locked session: %d", got.status)
	}
	if got := e.submitMFA(b, p, "verify-totp", map[string]string{"code": "000000"}); got.status != http.StatusUnauthorized {
		t.Fatalf("wrong verification code: %d", got.status)
	}
	p = e.submitMFA(b, p, "verify-totp", map[string]string{"code": totpCode(t, setup.Secret, e.clock.Now())})
	p, _ = b.follow(e.env, p, e.issuer+"/account")
	if !strings.Contains(p.body, "Verified") || !strings.Contains(p.body, `value="remove"`) || !strings.Contains(p.body, `value="regenerate"`) {
		t.Fatalf("after verifying: %d\n%s", p.status, p.body)
	}
	// The upgraded session satisfies a client that requires MFA without a prompt.
	payroll := e.rp(payrollID, payrollSecret, payrollRedirect)
	verifier = oauth2.GenerateVerifier()
	u2 := e.authURL(payroll, verifier)
	q := e.consentAndCode(b, b.get(u2), u2)
	wantAuth(t, "session upgraded on the account page", e.exchange(payroll, q.Get("code"), verifier), mfa.ACRMFA, "otp", "mfa")
}
