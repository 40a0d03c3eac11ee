package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// passkeyAuthenticator is a software WebAuthn authenticator with discoverable credentials:
// it keeps the user handle it was registered with and returns it in assertions, as a
// platform authenticator or a security key with resident keys does. Its flags, counter,
// RP ID and origin are the test's to set, so every check of the relying party can be failed.
type passkeyAuthenticator struct {
	t      testing.TB
	priv   *ecdsa.PrivateKey
	id     []byte
	handle []byte
	rpID   string
	origin string
	// flags of assertions (registration always sends UP|UV|AT); counter of both.
	flags   byte
	counter uint32
}

func newPasskeyAuthenticator(t testing.TB, rpID, origin string) *passkeyAuthenticator {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &passkeyAuthenticator{t: t, priv: priv, id: id, rpID: rpID, origin: origin, flags: 0x05, counter: 1}
}

// options is what the relying party's navigator.credentials options say.
type passkeyOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
		AuthenticatorSelection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		UserVerification string            `json:"userVerification"`
		AllowCredentials []json.RawMessage `json:"allowCredentials"`
	} `json:"publicKey"`
}

func parsePasskeyOptions(t testing.TB, options string) passkeyOptions {
	t.Helper()
	var o passkeyOptions
	if err := json.Unmarshal([]byte(options), &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("webauthn options without a challenge: %v\n%s", err, options)
	}
	return o
}

func (k *passkeyAuthenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]string{"type": typ, "challenge": challenge, "origin": k.origin})
	return b
}

func (k *passkeyAuthenticator) authData(flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	out := binary.BigEndian.AppendUint32(append(h[:], flags), k.counter)
	return append(out, attested...)
}

// create answers navigator.credentials.create options: a resident key for the user handle
// the options carry, verified user, "none" attestation.
func (k *passkeyAuthenticator) create(options string) []byte {
	o := parsePasskeyOptions(k.t, options)
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil || len(handle) == 0 {
		k.t.Fatalf("creation options without a user handle: %v", err)
	}
	k.handle = handle
	point, err := k.priv.PublicKey.Bytes()
	if err != nil {
		k.t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: point[1:33], YCoord: point[33:65],
	})
	if err != nil {
		k.t.Fatal(err)
	}
	att := binary.BigEndian.AppendUint16(make([]byte, 16), uint16(len(k.id)))
	att = append(append(att, k.id...), cose...)
	ao, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(0x45, att)})
	if err != nil {
		k.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]string{"clientDataJSON": b64.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)), "attestationObject": b64.EncodeToString(ao)}})
	return b
}

// get answers navigator.credentials.get options with a signed assertion carrying the user
// handle, for the options' challenge (or another one).
func (k *passkeyAuthenticator) get(options string) []byte {
	return k.getChallenge(parsePasskeyOptions(k.t, options).PublicKey.Challenge)
}

func (k *passkeyAuthenticator) getChallenge(challenge string) []byte {
	cd := k.clientData("webauthn.get", challenge)
	ad := k.authData(k.flags, nil)
	h := sha256.Sum256(cd)
	sum := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, sum[:])
	if err != nil {
		k.t.Fatal(err)
	}
	resp := map[string]string{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad), "signature": b64.EncodeToString(sig)}
	if k.handle != nil {
		resp["userHandle"] = b64.EncodeToString(k.handle)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key", "response": resp})
	return b
}

// passkeyEnv is a Gatehouse on http://localhost:PORT (WebAuthn needs a domain name) whose
// local connector offers passkeys; payroll requires a second factor. Its local users can be
// disabled, or lose their password, by switch.
type passkeyEnv struct {
	*mfaEnv
	disabled, noPassword *atomic.Bool
}

// switchedUsers reports the local users as the switches say.
type switchedUsers struct {
	local.UserSource
	disabled, noPassword *atomic.Bool
}

func (u switchedUsers) LookupUser(ctx context.Context, name string) (local.User, error) {
	usr, err := u.UserSource.LookupUser(ctx, name)
	switch {
	case err != nil:
	case u.disabled.Load():
		usr.PasswordHash = local.DisabledPrefix + usr.PasswordHash
	case u.noPassword.Load():
		usr.PasswordHash = ""
	}
	return usr, err
}

func newPasskeyEnv(t *testing.T, mutate ...func(*config.Config)) *passkeyEnv {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	pe := &passkeyEnv{disabled: new(atomic.Bool), noPassword: new(atomic.Bool)}
	s := brokertest.New(t, brokertest.Options{
		Server: srv, Issuer: "http://localhost:" + port,
		Users: func(u local.UserSource) local.UserSource {
			return switchedUsers{UserSource: u, disabled: pe.disabled, noPassword: pe.noPassword}
		},
		Config: func(cfg *config.Config) {
			harnessConfig(cfg, "ES256", nil)
			cfg.Connectors[0].Passkeys.Enabled = true
			cfg.MFA = config.MFA{IssuerName: "Example Corp", SecretsKey: "test-secrets-key-0123456789abcdef"}
			cfg.Clients = append(cfg.Clients, config.Client{ID: payrollID, Secret: payrollSecret, Name: "Payroll",
				RedirectURIs: []string{payrollRedirect}, MFA: string(mfa.Required)})
			for _, m := range mutate {
				m(cfg)
			}
		},
	})
	pe.mfaEnv = &mfaEnv{env: envOf(t, s), svc: s.Gatehouse.Server.MFA.Service}
	return pe
}

// webauthnFormFor returns the action, fields and options of the page's WebAuthn form of the
// kind whose hidden action field is action ("" for a form without one).
func webauthnFormFor(t testing.TB, body, kind, action string) (string, url.Values, string) {
	t.Helper()
	for _, m := range webauthnFormRe.FindAllStringSubmatch(body, -1) {
		vals := url.Values{}
		for _, h := range hiddenRe.FindAllStringSubmatch(m[4], -1) {
			vals.Set(h[1], html.UnescapeString(h[2]))
		}
		if m[2] == kind && vals.Get("action") == action {
			return html.UnescapeString(m[1]), vals, html.UnescapeString(m[3])
		}
	}
	t.Fatalf("no %s WebAuthn form with action %q in page:\n%s", kind, action, body)
	return "", nil, ""
}

// signInWithPassword signs alice in with her password through the client and returns the
// tokens' claims.
func (e *passkeyEnv) signInWithPassword(b *browser, r *rp) authClaims {
	e.t.Helper()
	verifier := oauth2.GenerateVerifier()
	p, at := e.passwordStep(b, e.authURL(r, verifier))
	return e.exchange(r, e.consentAndCode(b, p, at).Get("code"), verifier)
}

// enrol registers the authenticator as a passkey from the account page of the browser's
// session and returns the page that follows.
func (e *passkeyEnv) enrol(b *browser, key *passkeyAuthenticator, name string) page {
	e.t.Helper()
	p := b.get(e.issuer + "/account")
	action, vals, options := webauthnFormFor(e.t, p.body, "create", "add-passkey")
	o := parsePasskeyOptions(e.t, options)
	if o.PublicKey.AuthenticatorSelection.ResidentKey != "required" || o.PublicKey.AuthenticatorSelection.UserVerification != "required" {
		e.t.Errorf("passkey creation options: residentKey %q, userVerification %q; want required, required",
			o.PublicKey.AuthenticatorSelection.ResidentKey, o.PublicKey.AuthenticatorSelection.UserVerification)
	}
	vals.Set("credential", string(key.create(options)))
	vals.Set("name", name)
	return b.post(e.issuer+action, vals)
}

// passkeyLoginPage starts a sign-in of the client in a new browser and returns the login
// page with its passkey form.
func (e *passkeyEnv) passkeyLoginPage(r *rp, verifier string) (*browser, string, url.Values, string) {
	e.t.Helper()
	b := e.browser()
	authURL := e.authURL(r, verifier)
	p, at := b.follow(e.env, b.get(authURL), authURL)
	if !strings.Contains(p.body, `name="password"`) {
		e.t.Fatalf("expected the login page, got %d at %s:\n%s", p.status, at, p.body)
	}
	if !strings.Contains(p.body, `autocomplete="username webauthn"`) || !strings.Contains(p.body, "data-conditional>") {
		e.t.Errorf("the login page does not offer passkeys in the username field's autofill (conditional UI)")
	}
	action, vals, options := webauthnFormFor(e.t, p.body, "get", "")
	o := parsePasskeyOptions(e.t, options)
	if o.PublicKey.UserVerification != "required" || len(o.PublicKey.AllowCredentials) != 0 {
		e.t.Errorf("passkey request options: userVerification %q, allowCredentials %d; want required and none (discoverable)",
			o.PublicKey.UserVerification, len(o.PublicKey.AllowCredentials))
	}
	return b, action, vals, options
}

// TestPasskeySignIn (issue 24.4): alice enrols a passkey on /account after a password
// sign-in, then signs in with the passkey alone in a new browser, to a client that requires
// a second factor: no password, no MFA step, and the ID token says hwk, user and mfa with
// the phishing-resistant acr, for the same sub.
func TestPasskeySignIn(t *testing.T) {
	e := newPasskeyEnv(t)
	web := e.rp(confidentialID, confidentialSecret, redirectURI)
	b := e.browser()
	first := e.signInWithPassword(b, web)
	wantAuth(t, "password sign-in", first, mfa.ACRPassword, "pwd")

	key := newPasskeyAuthenticator(t, "localhost", e.issuer)
	p := e.enrol(b, key, "Laptop")
	if p.status != http.StatusOK || !codesRe.MatchString(p.body) {
		t.Fatalf("first passkey: want the recovery codes page, got %d %q:\n%s", p.status, p.location, p.body)
	}
	if string(key.handle) == "alice" || len(key.handle) < 16 {
		t.Errorf("the user handle %q is not an opaque random value", key.handle)
	}
	p = b.get(e.issuer + "/account")
	if !strings.Contains(p.body, "data-passkey=") || !strings.Contains(p.body, "<strong>Laptop</strong>") {
		t.Errorf("the account page does not list the passkey:\n%s", p.body)
	}

	var disc struct {
		ACRValues []string `json:"acr_values_supported"`
	}
	if err := web.provider.Claims(&disc); err != nil || !slices.Contains(disc.ACRValues, mfa.ACRPhishingResistantHardware) || !slices.Contains(disc.ACRValues, mfa.ACRPhishingResistant) {
		t.Errorf("discovery acr_values_supported = %v (%v), want phr and phrh", disc.ACRValues, err)
	}

	payroll := e.rp(payrollID, payrollSecret, payrollRedirect)
	verifier := oauth2.GenerateVerifier()
	b2, action, vals, options := e.passkeyLoginPage(payroll, verifier)
	key.counter++ // the authenticator's counter grows with every signature
	vals.Set("credential", string(key.get(options)))
	p, at := b2.follow(e.env, b2.post(e.issuer+action, vals), e.issuer+action)
	if strings.Contains(at, "/mfa") {
		t.Fatalf("a passkey sign-in was sent to the MFA step: %s", at)
	}
	got := e.exchange(payroll, e.consentAndCode(b2, p, at).Get("code"), verifier)
	wantAuth(t, "passkey sign-in", got, mfa.ACRPhishingResistantHardware, "hwk", "user", "mfa")
	for _, m := range got.AMR {
		if m == "pwd" {
			t.Errorf("amr %v says a password was used", got.AMR)
		}
	}
	if got.Sub == "" {
		t.Error("no sub")
	}
	// The same user: sub is pairwise per client only when configured, and here it is public.
	if first.Sub != got.Sub {
		t.Errorf("passkey sub %q, password sub %q: not the same user", got.Sub, first.Sub)
	}
	if n := passkeyAudits(t, e, "success"); n != 1 {
		t.Errorf("%d successful passkey logins audited, want 1", n)
	}
}

// passkeyAudits counts the audited passkey logins with the outcome.
func passkeyAudits(t *testing.T, e *passkeyEnv, outcome string) int {
	t.Helper()
	evs, err := e.store.(storage.AuditStore).ListAuditEvents(context.Background(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Type == audit.Login && ev.Outcome == outcome && ev.Detail["method"] == "passkey" {
			n++
		}
	}
	return n
}

// TestPasskeySignInRefused (issue 24.4): every check of a passkey assertion, each failed on
// its own against a fresh ceremony: nothing is issued, the login page says the passkey
// could not be verified, and the next correct passkey still signs in.
func TestPasskeySignInRefused(t *testing.T) {
	e := newPasskeyEnv(t)
	web := e.rp(confidentialID, confidentialSecret, redirectURI)
	b := e.browser()
	sub := e.signInWithPassword(b, web).Sub
	key := newPasskeyAuthenticator(t, "localhost", e.issuer)
	if p := e.enrol(b, key, "Laptop"); p.status != http.StatusOK {
		t.Fatalf("enrol: %d\n%s", p.status, p.body)
	}
	// A WebAuthn second factor (not a passkey) of alice's, with her user handle.
	secondFactor := newPasskeyAuthenticator(t, "localhost", e.issuer)
	u := mfa.User{ID: sub, Name: "alice"}
	opts, state, err := e.svc.BeginWebAuthnRegistration(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.FinishWebAuthnRegistration(context.Background(), u, state, "YubiKey", secondFactor.create(string(opts))); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		// answer returns the credential field for the page's options (with the fields and
		// action, for the replay case).
		answer func(t *testing.T, options string) string
		setup  func()
	}{
		{"wrong challenge", func(t *testing.T, _ string) string {
			return string(key.getChallenge(b64.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))))
		}, nil},
		{"challenge of an earlier ceremony", func(t *testing.T, _ string) string {
			_, _, _, old := e.passkeyLoginPage(web, oauth2.GenerateVerifier())
			return string(key.get(old))
		}, nil},
		{"unknown credential", func(t *testing.T, options string) string {
			stranger := newPasskeyAuthenticator(t, "localhost", e.issuer)
			stranger.handle = key.handle // claims to be alice's
			return string(stranger.get(options))
		}, nil},
		{"unknown user handle", func(t *testing.T, options string) string {
			k := *key
			k.handle = []byte("not-a-user-handle-0123456789abcd")
			return string(k.get(options))
		}, nil},
		{"second factor key alone", func(t *testing.T, options string) string {
			return string(secondFactor.get(options))
		}, nil},
		{"user not verified", func(t *testing.T, options string) string {
			k := *key
			k.flags, k.counter = 0x01, key.counter+1 // UP only
			return string(k.get(options))
		}, nil},
		{"wrong origin", func(t *testing.T, options string) string {
			k := *key
			k.origin, k.counter = "http://localhost.evil.example", key.counter+1
			return string(k.get(options))
		}, nil},
		{"wrong RP ID", func(t *testing.T, options string) string {
			k := *key
			k.rpID, k.counter = "evil.example", key.counter+1
			return string(k.get(options))
		}, nil},
		{"counter went back (cloned)", func(t *testing.T, options string) string {
			k := *key
			k.counter = 0
			return string(k.get(options))
		}, nil},
		{"disabled user", func(t *testing.T, options string) string {
			key.counter++
			return string(key.get(options))
		}, func() { e.disabled.Store(true) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Advance(6 * time.Minute) // a fresh login attempt budget for each case
			e.disabled.Store(false)
			if tc.setup != nil {
				tc.setup()
			}
			b2, action, vals, options := e.passkeyLoginPage(web, oauth2.GenerateVerifier())
			vals.Set("credential", tc.answer(t, options))
			p := b2.post(e.issuer+action, vals)
			if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Your passkey could not be verified") {
				t.Fatalf("got %d %q, want 401 with the passkey message:\n%s", p.status, p.location, p.body)
			}
		})
	}

	if n := passkeyAudits(t, e, audit.OutcomeBadCredentials); n != len(tests) {
		t.Errorf("%d failed passkey logins audited, want %d", n, len(tests))
	}
	// Still works afterwards.
	e.disabled.Store(false)
	key.counter += 10
	verifier := oauth2.GenerateVerifier()
	b2, action, vals, options := e.passkeyLoginPage(web, verifier)
	vals.Set("credential", string(key.get(options)))
	p, at := b2.follow(e.env, b2.post(e.issuer+action, vals), e.issuer+action)
	got := e.exchange(web, e.consentAndCode(b2, p, at).Get("code"), verifier)
	wantAuth(t, "after the refusals", got, mfa.ACRPhishingResistantHardware, "hwk", "user", "mfa")
}

// TestPasskeyCeremonySingleUse (issue 24.4): the ceremony's state is taken atomically before
// the assertion is checked: of several deliveries of one correct answer at once, exactly one
// signs in; the others are refused (the state is gone, or the flow already moved on).
func TestPasskeyCeremonySingleUse(t *testing.T) {
	e := newPasskeyEnv(t)
	web := e.rp(confidentialID, confidentialSecret, redirectURI)
	b := e.browser()
	e.signInWithPassword(b, web)
	key := newPasskeyAuthenticator(t, "localhost", e.issuer)
	if p := e.enrol(b, key, "Laptop"); p.status != http.StatusOK {
		t.Fatalf("enrol: %d\n%s", p.status, p.body)
	}
	b2, action, vals, options := e.passkeyLoginPage(web, oauth2.GenerateVerifier())
	key.counter++
	vals.Set("credential", string(key.get(options)))
	const n = 4
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { statuses <- b2.post(e.issuer+action, vals).status })
	}
	wg.Wait()
	close(statuses)
	won := 0
	for st := range statuses {
		switch st {
		case http.StatusSeeOther, http.StatusFound:
			won++
		case http.StatusUnauthorized, http.StatusBadRequest, http.StatusForbidden:
		default:
			t.Errorf("a delivery got %d", st)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d deliveries of one assertion signed in, want exactly 1", won, n)
	}
	// Sequentially too: once more after the race is refused.
	if st := b2.post(e.issuer+action, vals).status; st == http.StatusSeeOther || st == http.StatusFound {
		t.Fatalf("a replayed assertion signed in again: %d", st)
	}
}

// TestPasskeyRateLimit (issue 24.4): failed passkeys spend the client IP's login budget,
// as failed passwords do.
func TestPasskeyRateLimit(t *testing.T) {
	e := newPasskeyEnv(t)
	web := e.rp(confidentialID, confidentialSecret, redirectURI)
	stranger := newPasskeyAuthenticator(t, "localhost", "")
	stranger.handle = []byte("nobody")
	b, action, vals, options := e.passkeyLoginPage(web, oauth2.GenerateVerifier())
	stranger.origin = e.issuer
	for i := range 11 {
		vals.Set("credential", string(stranger.get(options)))
		p := b.post(e.issuer+action, vals)
		want := http.StatusUnauthorized
		if i == 10 {
			want = http.StatusTooManyRequests
		}
		if p.status != want {
			t.Fatalf("attempt %d: %d, want %d:\n%s", i+1, p.status, want, p.body)
		}
		action, vals, options = webauthnFormFor(t, p.body, "get", "")
	}
}

// TestAccountPasskeys (issue 24.4): the account page lists passkeys in their own section,
// adds more, and removes them, but never the last passkey of an account without a password:
// the user keeps a way in.
func TestAccountPasskeys(t *testing.T) {
	e := newPasskeyEnv(t)
	web := e.rp(confidentialID, confidentialSecret, redirectURI)
	b := e.browser()
	e.signInWithPassword(b, web)
	key1 := newPasskeyAuthenticator(t, "localhost", e.issuer)
	if p := e.enrol(b, key1, "Laptop"); p.status != http.StatusOK {
		t.Fatalf("enrol: %d\n%s", p.status, p.body)
	}
	// Sign in with the passkey alone: the session may change factors without verifying.
	verifier := oauth2.GenerateVerifier()
	b2, action, vals, options := e.passkeyLoginPage(web, verifier)
	key1.counter++
	vals.Set("credential", string(key1.get(options)))
	p, at := b2.follow(e.env, b2.post(e.issuer+action, vals), e.issuer+action)
	e.consentAndCode(b2, p, at)

	passkeyIDs := func() []string {
		p := b2.get(e.issuer + "/account")
		var ids []string
		for _, m := range regexp.MustCompile(`data-passkey="([^"]+)"`).FindAllStringSubmatch(p.body, -1) {
			ids = append(ids, m[1])
			if strings.Contains(p.body, `data-factor="`+m[1]+`"`) {
				t.Errorf("passkey %s is listed among the second factors too", m[1])
			}
		}
		return ids
	}
	remove := func(id string) page {
		p := b2.get(e.issuer + "/account")
		for _, m := range anyFormRe.FindAllStringSubmatch(p.body, -1) {
			action, vals := form(t, m[0])
			if vals.Get("action") == "remove" && vals.Get("factor") == id {
				return b2.post(e.issuer+action, vals)
			}
		}
		t.Fatalf("no remove form for %s:\n%s", id, p.body)
		return page{}
	}
	ids := passkeyIDs()
	if len(ids) != 1 {
		t.Fatalf("passkeys listed: %v, want 1", ids)
	}

	e.noPassword.Store(true) // the account has no password any more
	if p := remove(ids[0]); p.status != http.StatusConflict || !strings.Contains(p.body, "your account has no password") {
		t.Fatalf("removing the last passkey of an account without a password: %d %q\n%s", p.status, p.location, p.body)
	}
	key2 := newPasskeyAuthenticator(t, "localhost", e.issuer)
	if p := e.enrol(b2, key2, "Phone"); p.status != http.StatusSeeOther || !strings.Contains(p.location, "done=passkey-added") {
		t.Fatalf("second passkey: %d %q\n%s", p.status, p.location, p.body)
	}
	if got := passkeyIDs(); len(got) != 2 {
		t.Fatalf("passkeys listed: %v, want 2", got)
	}
	// The passkey is the way in of an account without a password.
	verifier = oauth2.GenerateVerifier()
	b4, action, vals, options := e.passkeyLoginPage(web, verifier)
	key2.counter++
	vals.Set("credential", string(key2.get(options)))
	p, at = b4.follow(e.env, b4.post(e.issuer+action, vals), e.issuer+action)
	wantAuth(t, "passkey of an account without a password", e.exchange(web, e.consentAndCode(b4, p, at).Get("code"), verifier),
		mfa.ACRPhishingResistantHardware, "hwk", "user")
	if p := remove(ids[0]); p.status != http.StatusSeeOther || !strings.Contains(p.location, "done=removed") {
		t.Fatalf("removing one of two passkeys: %d %q\n%s", p.status, p.location, p.body)
	}
	ids = passkeyIDs()
	if len(ids) != 1 {
		t.Fatalf("passkeys after a removal: %v, want 1", ids)
	}
	if p := remove(ids[0]); p.status != http.StatusConflict {
		t.Fatalf("removing the last passkey again: %d, want 409", p.status)
	}
	e.noPassword.Store(false) // with a password to fall back on, the last passkey may go
	if p := remove(ids[0]); p.status != http.StatusSeeOther {
		t.Fatalf("removing the last passkey of an account with a password: %d\n%s", p.status, p.body)
	}
	if got := passkeyIDs(); len(got) != 0 {
		t.Errorf("passkeys after removing all: %v", got)
	}
	// The removed passkey no longer signs in.
	b3, action, vals, options := e.passkeyLoginPage(web, oauth2.GenerateVerifier())
	key1.counter++
	vals.Set("credential", string(key1.get(options)))
	if p := b3.post(e.issuer+action, vals); p.status != http.StatusUnauthorized {
		t.Errorf("a removed passkey: %d, want 401", p.status)
	}
}

// TestPasskeysOff: a connector without passkeys offers none, on the login page or the
// account page, and refuses a passkey post.
func TestPasskeysOff(t *testing.T) {
	e := newPasskeyEnv(t, func(cfg *config.Config) {
		cfg.Connectors[0].Passkeys.Enabled = false
		cfg.MFA.WebAuthn = config.MFAWebAuthn{RPID: "localhost"}
	})
	web := e.rp(confidentialID, confidentialSecret, redirectURI)
	b := e.browser()
	authURL := e.authURL(web, oauth2.GenerateVerifier())
	p, _ := b.follow(e.env, b.get(authURL), authURL)
	if strings.Contains(p.body, "/passkey") || strings.Contains(p.body, `data-webauthn="get"`) || strings.Contains(p.body, "webauthn\"") {
		t.Errorf("the login page offers a passkey:\n%s", p.body)
	}
	action, vals := form(t, p.body)
	vals.Set("credential", "{}")
	if got := b.post(e.issuer+action+"/passkey", vals); got.status == http.StatusSeeOther || got.status == http.StatusUnauthorized {
		t.Errorf("a passkey post to a connector without passkeys: %d", got.status)
	}
	e.signInWithPassword(b, web)
	p = b.get(e.issuer + "/account")
	if strings.Contains(p.body, `value="add-passkey"`) || strings.Contains(p.body, "Passkeys</h2>") {
		t.Errorf("the account page offers passkeys:\n%s", p.body)
	}
	_, vals = formWith(t, p.body, "add-webauthn")
	vals.Set("action", "add-passkey")
	if got := b.post(e.issuer+"/account", vals); got.status != http.StatusBadRequest {
		t.Errorf("add-passkey without passkeys: %d, want 400", got.status)
	}
}

// TestPasskeyOtherConnector: a passkey signs in only through the connector of the account it
// was registered for, not through another local connector that offers passkeys.
func TestPasskeyOtherConnector(t *testing.T) {
	e := newPasskeyEnv(t, func(cfg *config.Config) {
		cfg.Connectors = append(cfg.Connectors, config.ConnectorBlock{Type: "local", ID: "local2", Name: "Other accounts",
			Passkeys: config.ConnectorPasskeys{Enabled: true}})
		for i := range cfg.Clients {
			cfg.Clients[i].AllowedConnectors = nil
		}
	})
	web := e.rp(confidentialID, confidentialSecret, redirectURI)
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	authURL := e.authURL(web, verifier, oauth2.SetAuthURLParam("connector_id", "local"))
	p, _ := b.follow(e.env, b.get(authURL), authURL)
	action, vals := form(t, p.body)
	vals.Set("username", "alice")
	vals.Set("password", alicePassword)
	p, at := b.follow(e.env, b.post(e.issuer+action, vals), e.issuer+action)
	e.consentAndCode(b, p, at)
	key := newPasskeyAuthenticator(t, "localhost", e.issuer)
	if p := e.enrol(b, key, "Laptop"); p.status != http.StatusOK {
		t.Fatalf("enrol: %d\n%s", p.status, p.body)
	}
	for _, tc := range []struct {
		connector string
		want      int
	}{{"local2", http.StatusUnauthorized}, {"local", http.StatusSeeOther}} {
		b2 := e.browser()
		authURL := e.authURL(web, oauth2.GenerateVerifier(), oauth2.SetAuthURLParam("connector_id", tc.connector))
		p, at := b2.follow(e.env, b2.get(authURL), authURL)
		action, vals, options := webauthnFormFor(t, p.body, "get", "")
		if !strings.Contains(action, "/login/"+tc.connector+"/passkey") {
			t.Fatalf("%s: passkey form posts to %s (at %s)", tc.connector, action, at)
		}
		key.counter++
		vals.Set("credential", string(key.get(options)))
		if got := b2.post(e.issuer+action, vals); got.status != tc.want {
			t.Errorf("passkey through %s: %d, want %d\n%s", tc.connector, got.status, tc.want, got.body)
		}
	}
}
