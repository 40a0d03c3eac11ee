package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/mfa"
)

// softKey is a software WebAuthn authenticator (P-256, "none" attestation) with a signature
// counter that stays 0, as many passkeys have.
type softKey struct {
	t      testing.TB
	priv   *ecdsa.PrivateKey
	id     []byte
	rpID   string
	origin string
}

func newSoftKey(t testing.TB, rpID, origin string) *softKey {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softKey{t: t, priv: priv, id: id, rpID: rpID, origin: origin}
}

var b64 = base64.RawURLEncoding

// challengeOf reads publicKey.challenge from navigator.credentials options JSON.
func (k *softKey) challengeOf(options string) string {
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(options), &o); err != nil || o.PublicKey.Challenge == "" {
		k.t.Fatalf("webauthn options without a challenge: %v\n%s", err, options)
	}
	return o.PublicKey.Challenge
}

func (k *softKey) clientData(typ, options string) []byte {
	b, _ := json.Marshal(map[string]string{"type": typ, "challenge": k.challengeOf(options), "origin": k.origin})
	return b
}

func (k *softKey) authData(flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	out := append(h[:], flags, 0, 0, 0, 0) // counter 0
	return append(out, attested...)
}

// create answers navigator.credentials.create options with a registration response.
func (k *softKey) create(options string) []byte {
	point, err := k.priv.PublicKey.Bytes() // uncompressed: 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	x, y := point[1:33], point[33:65]
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: x, YCoord: y,
	})
	if err != nil {
		k.t.Fatal(err)
	}
	att := make([]byte, 16) // AAGUID
	att = binary.BigEndian.AppendUint16(att, uint16(len(k.id)))
	att = append(append(att, k.id...), cose...)
	ao, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(0x45, att)})
	if err != nil {
		k.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]string{"clientDataJSON": b64.EncodeToString(k.clientData("webauthn.create", options)), "attestationObject": b64.EncodeToString(ao)}})
	return b
}

// get answers navigator.credentials.get options with an assertion.
func (k *softKey) get(options string) []byte {
	cd := k.clientData("webauthn.get", options)
	ad := k.authData(0x05, nil)
	h := sha256.Sum256(cd)
	sum := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, sum[:])
	if err != nil {
		k.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]string{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad), "signature": b64.EncodeToString(sig)}})
	return b
}

var webauthnFormRe = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)" data-webauthn="(get|create)" data-options="([^"]*)"[^>]*>(.*?)</form>`)

// webauthnForm returns the action, hidden fields and options of the page's WebAuthn form of
// the kind ("get" or "create").
func webauthnForm(t *testing.T, body, kind string) (string, map[string]string, string) {
	t.Helper()
	for _, m := range webauthnFormRe.FindAllStringSubmatch(body, -1) {
		if m[2] != kind {
			continue
		}
		vals := map[string]string{}
		for _, h := range hiddenRe.FindAllStringSubmatch(m[4], -1) {
			vals[h[1]] = html.UnescapeString(h[2])
		}
		return html.UnescapeString(m[1]), vals, html.UnescapeString(m[3])
	}
	t.Fatalf("no %s WebAuthn form in page:\n%s", kind, body)
	return "", nil, ""
}

// TestAccountWebAuthnSingleUse: the account page's WebAuthn ceremonies are kept server-side,
// bound to the session and single-use.
// Attack (issue 25.7): the ceremony state came from a hidden form field, so a captured
// (state, assertion) pair verified again for 10 minutes and upgraded any session of the user
// to acr=mfa.
func TestAccountWebAuthnSingleUse(t *testing.T) {
	e := newMFAEnv(t, mfa.Off, func(issuer string, o *mfa.Options) {
		o.WebAuthn = mfa.WebAuthnOptions{RPID: "localhost", Origins: []string{issuer}}
	})
	web := e.rp(confidentialID, confidentialSecret, redirectURI)
	// signIn signs alice in with her password only, in a new browser.
	signIn := func() (*browser, string) {
		b := e.browser()
		verifier := oauth2.GenerateVerifier()
		p, at := e.passwordStep(b, e.authURL(web, verifier))
		return b, e.exchange(web, e.consentAndCode(b, p, at).Get("code"), verifier).Sub
	}
	b, sub := signIn()
	key := newSoftKey(t, "localhost", e.issuer)
	u := mfa.User{ID: sub, Name: "alice"}
	opts, state, err := e.svc.BeginWebAuthnRegistration(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.FinishWebAuthnRegistration(context.Background(), u, state, "Passkey", key.create(string(opts))); err != nil {
		t.Fatalf("register the soft key: %v", err)
	}

	// The victim verifies on the account page; the attacker captures what was posted.
	p := b.get(e.issuer + "/account")
	action, captured, options := webauthnForm(t, p.body, "get")
	captured["credential"] = string(key.get(options))
	post := func(b *browser, fields map[string]string, csrf string) page {
		vals := map[string][]string{}
		for k, v := range fields {
			vals[k] = []string{v}
		}
		vals["csrf"] = []string{csrf}
		return b.post(e.issuer+action, vals)
	}
	if got := post(b, captured, captured["csrf"]); got.status != http.StatusSeeOther || !strings.Contains(got.location, "done=verified") {
		t.Fatalf("first verification: %d %q\n%s", got.status, got.location, got.body)
	}

	// Another session of the same user replays the captured pair with its own CSRF token.
	b2, _ := signIn()
	p2 := b2.get(e.issuer + "/account")
	_, own, _ := webauthnForm(t, p2.body, "get")
	if got := post(b2, captured, own["csrf"]); got.status == http.StatusSeeOther {
		t.Fatalf("a replayed (state, assertion) pair upgraded another session: %q", got.location)
	}
	// That session's own ceremony still works, once.
	p2 = b2.get(e.issuer + "/account")
	_, own, options = webauthnForm(t, p2.body, "get")
	own["credential"] = string(key.get(options))
	if got := post(b2, own, own["csrf"]); got.status != http.StatusSeeOther || !strings.Contains(got.location, "done=verified") {
		t.Fatalf("own verification: %d %q\n%s", got.status, got.location, got.body)
	}

	// Registration state is server-side too: a second key is added through the page.
	p2, _ = b2.follow(e.env, b2.get(e.issuer+"/account"), e.issuer+"/account")
	addAction, add, options := webauthnForm(t, p2.body, "create")
	if _, leaked := add["state"]; leaked {
		t.Errorf("the registration ceremony's state is in the page")
	}
	key2 := newSoftKey(t, "localhost", e.issuer)
	add["credential"], add["name"] = string(key2.create(options)), "Second key"
	vals := map[string][]string{}
	for k, v := range add {
		vals[k] = []string{v}
	}
	if got := b2.post(e.issuer+addAction, vals); got.status != http.StatusSeeOther && got.status != http.StatusOK {
		t.Fatalf("add a second key: %d %q\n%s", got.status, got.location, got.body)
	}
	if got := b2.post(e.issuer+addAction, vals); got.status != http.StatusBadRequest {
		t.Errorf("replayed registration: %d, want 400", got.status)
	}
}
