package saml_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	csaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/connectors"
	gsaml "github.com/gatehouse-id/gatehouse/connectors/saml"
)

// memKeys is a connectors.KeyStore in memory with the put-if-absent and expiry semantics of
// the storage-backed one cmd/gatehouse wires (tested there on SQLite): one instance shared
// by several connectors stands for several replicas on one database.
type memKeys struct {
	clock *testClock
	mu    sync.Mutex
	m     map[string]memKey
	puts  int
}

type memKey struct {
	v   []byte
	exp time.Time
}

func newMemKeys(clock *testClock) *memKeys { return &memKeys{clock: clock, m: map[string]memKey{}} }

func (s *memKeys) live(name string) (memKey, bool) {
	k, ok := s.m[name]
	return k, ok && (k.exp.IsZero() || s.clock.Now().Before(k.exp))
}

func (s *memKeys) Get(_ context.Context, name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.live(name); ok {
		return k.v, nil
	}
	return nil, connectors.ErrKeyNotFound
}

func (s *memKeys) PutIfAbsent(_ context.Context, name string, v []byte, exp time.Time) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.live(name); ok {
		return k.v, nil
	}
	s.m[name] = memKey{v: v, exp: exp}
	s.puts++
	return v, nil
}

// mdCerts returns the SP metadata's certificates (base64 DER) by use.
func mdCerts(t *testing.T, s *sp) map[string][]string {
	t.Helper()
	md, err := s.conn.Metadata(t.Context())
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	var ed csaml.EntityDescriptor
	if err := xmlUnmarshal(md, &ed); err != nil {
		t.Fatal(err)
	}
	d := ed.SPSSODescriptors[0]
	if d.AuthnRequestsSigned == nil || !*d.AuthnRequestsSigned {
		t.Errorf("metadata does not say AuthnRequestsSigned")
	}
	out := map[string][]string{}
	for _, kd := range d.KeyDescriptors {
		for _, c := range kd.KeyInfo.X509Data.X509Certificates {
			out[kd.Use] = append(out[kd.Use], c.Data)
		}
	}
	return out
}

// signedBy reports whether the HTTP-Redirect AuthnRequest URL is signed (RSA-SHA256) by the
// certificate cert (base64 DER), per saml-bindings-2.0 3.4.4.1.
func signedBy(t *testing.T, stepURL, cert string) bool {
	t.Helper()
	u, err := url.Parse(stepURL)
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]string{}
	for _, part := range strings.Split(u.RawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		raw[k] = v
	}
	signed := "SAMLRequest=" + raw["SAMLRequest"]
	if rs, ok := raw["RelayState"]; ok {
		signed += "&RelayState=" + rs
	}
	signed += "&SigAlg=" + raw["SigAlg"]
	sig, err := base64.StdEncoding.DecodeString(u.Query().Get("Signature"))
	if err != nil {
		t.Fatal(err)
	}
	der, err := base64.StdEncoding.DecodeString(cert)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(signed))
	return rsa.VerifyPKCS1v15(c.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig) == nil
}

// idpSession returns a browser with an IdP session (the IdP's login form would re-post the
// request with the POST binding, dropping the redirect binding's query signature).
func idpSession(t *testing.T, ti *testIdP) *browser {
	t.Helper()
	b := newBrowser(t)
	if p := b.post(ti.srv.URL+"/login", url.Values{"user": {"alice"}, "password": {alicePassword}}); p.status != 200 {
		t.Fatalf("IdP login: %d %s", p.status, p.body)
	}
	return b
}

// generatedKeyConfig turns on signing with a generated key rotated every two days.
func generatedKeyConfig(c *gsaml.Config) {
	c.SignRequests = true
	c.SPKeyRotation = 48 * time.Hour
	c.SPKeyGrace = 12 * time.Hour
	c.AllowIDPInitiated = true
}

// TestGeneratedKeyReplicasAgree (issue 20.5): two connector instances (replicas) opening on
// one key store at the same moment publish the same generated certificate, so the IdP
// verifies requests from either; the key pair is stored once. Before this change
// sign_requests without sp_key/sp_cert was refused at config time.
func TestGeneratedKeyReplicasAgree(t *testing.T) {
	t.Parallel()
	ti := newIdP(t, idpOptions{})
	clk := &testClock{}
	store := newMemKeys(clk)
	var replicas [2]*sp
	for i := range replicas {
		replicas[i] = newSP(t, ti, spOptions{noRegister: true, keys: store, clock: clk, mutate: generatedKeyConfig})
	}
	var wg sync.WaitGroup
	certs := make([]map[string][]string, len(replicas))
	for i, r := range replicas {
		wg.Go(func() { certs[i] = mdCerts(t, r) })
	}
	wg.Wait()
	if len(certs[0]["signing"]) != 1 || len(certs[0]["encryption"]) != 1 || certs[0]["signing"][0] != certs[0]["encryption"][0] {
		t.Fatalf("metadata certificates = %v, want one generated certificate for signing and encryption", certs[0])
	}
	if !slices.Equal(certs[0]["signing"], certs[1]["signing"]) {
		t.Fatalf("replicas publish different certificates: %v / %v", certs[0]["signing"], certs[1]["signing"])
	}
	if store.puts != 2 { // the schedule anchor and one key pair
		t.Errorf("store got %d puts, want 2 (anchor + one key)", store.puts)
	}
	// Either replica's request is signed by the one published key.
	for i, r := range replicas {
		step, err := r.conn.Begin(t.Context(), connectors.BeginRequest{CallbackURL: r.callback, State: "st"})
		if err != nil {
			t.Fatal(err)
		}
		if !signedBy(t, step.URL, certs[0]["signing"][0]) {
			t.Errorf("replica %d: request not signed by the published key", i)
		}
	}
}

// TestGeneratedKeySignsAndRotates (issue 20.5): a request signed with the generated key
// verifies at the in-process crewjam IdP (which requires signed requests); the next key is
// published a grace period before it signs; after a rotation the new key signs, the metadata
// lists the new certificate and, for the grace period, the old one; an assertion the IdP still encrypts to the old certificate decrypts; after the
// grace period the old certificate is gone.
func TestGeneratedKeySignsAndRotates(t *testing.T) {
	ti := newIdP(t, idpOptions{wantSignedAuthnR: true})
	clk := &testClock{}
	store := newMemKeys(clk)
	s := newSP(t, ti, spOptions{keys: store, clock: clk, mutate: generatedKeyConfig}) // registers metadata with key A
	replica := newSP(t, ti, spOptions{noRegister: true, keys: store, clock: clk, mutate: generatedKeyConfig})

	a := mdCerts(t, s)
	certA := a["signing"][0]
	action, vals, step := s.login(t, idpSession(t, ti), "st1")
	if !signedBy(t, step.URL, certA) {
		t.Fatal("request not signed by the generated key")
	}
	if _, err := s.finish("st1", step.Stash, action, vals); err != nil {
		t.Fatalf("Finish with the generated key: %v\n%s", err, s.logs)
	}

	// Within the grace period before the rotation the next certificate is published (for
	// signing only) while A still signs, so an IdP that re-reads the metadata trusts B in time.
	clk.Set(36*time.Hour + time.Minute)
	early := mdCerts(t, replica)
	if len(early["signing"]) != 2 || early["signing"][0] != certA || early["signing"][1] == certA ||
		!slices.Equal(early["encryption"], []string{certA}) {
		t.Fatalf("before rotation certs = %v, want A (signing, encryption) and the next one (signing)", early)
	}
	certB := early["signing"][1]
	step, err := replica.conn.Begin(t.Context(), connectors.BeginRequest{CallbackURL: replica.callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	if !signedBy(t, step.URL, certA) {
		t.Fatal("the pre-published key signs before its time")
	}

	// One rotation later, inside the grace period: the pre-published key signs.
	clk.Set(48*time.Hour + time.Minute)
	rotated := mdCerts(t, s)
	if !slices.Equal(rotated["encryption"], []string{certB}) {
		t.Fatalf("after rotation encryption certs = %v, want only the pre-published one", rotated["encryption"])
	}
	if !slices.Equal(rotated["signing"], []string{certB, certA}) {
		t.Fatalf("after rotation signing certs = %v, want new then old", rotated["signing"])
	}
	if got := mdCerts(t, replica); !slices.Equal(got["signing"], rotated["signing"]) {
		t.Fatalf("replica after rotation: %v, want %v", got["signing"], rotated["signing"])
	}
	// The rotated key material stays cached until the grace period ends, so the clock can go
	// back to the IdP's (real) time for the assertions' validity windows.
	clk.Set(0)

	// The IdP still holds the old metadata: it encrypts to A; A still decrypts.
	iAction, iVals := idpInitiated(t, ti, newBrowser(t), s)
	if decodeResponse(t, iVals).FindElement("//EncryptedAssertion") == nil {
		t.Fatal("the IdP did not encrypt the assertion")
	}
	if _, err := s.finish("x", nil, iAction, iVals); err != nil {
		t.Fatalf("assertion encrypted to the replaced certificate refused during grace: %v\n%s", err, s.logs)
	}
	// The IdP reads the new metadata; the new key signs and verifies there.
	md, err := s.conn.Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ti.register("okta", md)
	action, vals, step = s.login(t, idpSession(t, ti), "st2")
	if !signedBy(t, step.URL, certB) || signedBy(t, step.URL, certA) {
		t.Fatal("after rotation the request is not signed by the new key alone")
	}
	if _, err := s.finish("st2", step.Stash, action, vals); err != nil {
		t.Fatalf("Finish after rotation: %v\n%s", err, s.logs)
	}

	// After the grace period the old certificate is dropped.
	clk.Set(60*time.Hour + time.Minute)
	if got := mdCerts(t, s); !slices.Equal(got["signing"], []string{certB}) || !slices.Equal(got["encryption"], []string{certB}) {
		t.Fatalf("after the grace period certs = %v, want only the new one", got)
	}
	// The next rotation brings a third key, with B kept for its grace period.
	clk.Set(96*time.Hour + time.Minute)
	got := mdCerts(t, replica)
	if len(got["signing"]) != 2 || got["signing"][1] != certB || got["signing"][0] == certA || got["signing"][0] == certB {
		t.Fatalf("second rotation: signing certs = %v", got["signing"])
	}
}

// downKeys is a key store whose storage is unreachable.
type downKeys struct{}

func (downKeys) Get(context.Context, string) ([]byte, error) { return nil, errors.New("database down") }
func (downKeys) PutIfAbsent(context.Context, string, []byte, time.Time) ([]byte, error) {
	return nil, errors.New("database down")
}

// TestGeneratedKeyStoreDown (issue 20.5): when the stored key cannot be read, the connector
// fails closed with a temporary upstream error: no metadata, and no login with an unsigned
// request or a key of its own that the other replicas and the IdP do not know.
func TestGeneratedKeyStoreDown(t *testing.T) {
	t.Parallel()
	ti := newIdP(t, idpOptions{})
	s := newSP(t, ti, spOptions{noRegister: true, keys: downKeys{}, mutate: generatedKeyConfig})
	if _, err := s.conn.Metadata(t.Context()); err == nil {
		t.Fatal("Metadata without the stored key succeeded")
	}
	_, err := s.conn.Begin(t.Context(), connectors.BeginRequest{CallbackURL: s.callback, State: "st"})
	var ue *connectors.UpstreamError
	if !errors.As(err, &ue) || !ue.Temporary {
		t.Fatalf("Begin = %v, want a temporary *connectors.UpstreamError", err)
	}
}

// damagedKeys holds a damaged value under every SP key pair name (the schedule's anchor is
// intact).
type damagedKeys struct{ *memKeys }

func (d damagedKeys) Get(ctx context.Context, name string) ([]byte, error) {
	if strings.HasSuffix(name, "/anchor") {
		return d.memKeys.Get(ctx, name)
	}
	return []byte("damaged"), nil
}

// TestGeneratedKeyStoredPairDamaged: a stored key pair that does not parse is refused (no
// signing with anything else), as a temporary upstream error naming the stored key.
func TestGeneratedKeyStoredPairDamaged(t *testing.T) {
	t.Parallel()
	ti := newIdP(t, idpOptions{})
	clk := &testClock{}
	s := newSP(t, ti, spOptions{noRegister: true, keys: damagedKeys{newMemKeys(clk)}, clock: clk, mutate: generatedKeyConfig})
	if _, err := s.conn.Metadata(t.Context()); err == nil || !strings.Contains(err.Error(), "stored SP key") {
		t.Fatalf("Metadata with a damaged stored key = %v, want the stored SP key refused", err)
	}
	_, err := s.conn.Begin(t.Context(), connectors.BeginRequest{CallbackURL: s.callback, State: "st"})
	var ue *connectors.UpstreamError
	if !errors.As(err, &ue) || !ue.Temporary {
		t.Fatalf("Begin = %v, want a temporary *connectors.UpstreamError", err)
	}
}
