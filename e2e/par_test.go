//go:build peers

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestPARAndRequestObjects runs openid-client v6 against the binary for issue 17 items 6
// and 7 (e2e/node/par-flow.mjs), the login driven by the browserless HTML helper
// (htmlflow.mjs): discovery of PAR, request objects and the claims parameter;
// buildAuthorizationUrlWithPAR through a full code flow for a client that must push (with a
// claims parameter); the used request_uri refused when replayed; a plain request from that
// client refused with invalid_request; buildAuthorizationUrlWithJAR (a request object signed
// by a private_key_jwt client, keys inline) through a full code flow, and the same object
// pushed with private_key_jwt client authentication; a request object signed by another
// key refused.
func TestPARAndRequestObjects(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "jar-k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	privJWK, err := json.Marshal(jose.JSONWebKey{Key: priv, KeyID: "jar-k1", Algorithm: "ES256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	otherJWK, err := json.Marshal(jose.JSONWebKey{Key: other, KeyID: "jar-k1", Algorithm: "ES256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}

	in := newInstance(t, false)
	parSecret := "par-" + randomString(t, 16)
	addClients(t, in, strings.Join([]string{
		"  - id: par-rp",
		"    secret: " + parSecret,
		"    redirect_uris: [" + in.Client.RedirectURI + "]",
		"    require_pushed_authorization_requests: true",
		"  - id: jar-rp",
		"    jwks: " + string(pub),
		"    redirect_uris: [" + in.Client.RedirectURI + "]",
		"",
	}, "\n"))
	serve(t, in)
	out := runNode(t, "par-flow.mjs", map[string]string{
		"E2E_ISSUER": in.Issuer, "E2E_USERNAME": in.User.Username, "E2E_PASSWORD": in.User.Password,
		"E2E_EXPECTED_EMAIL": in.User.Email, "E2E_REDIRECT_URI": in.Client.RedirectURI,
		"E2E_PAR_ID": "par-rp", "E2E_PAR_SECRET": parSecret,
		"E2E_JAR_ID": "jar-rp", "E2E_JAR_KEY": string(privJWK), "E2E_OTHER_KEY": string(otherJWK),
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("par-flow.mjs exited 0 without reporting PASS")
	}
}

// TestHAPushedRequestOnce: two replicas on one PostgreSQL share pushed authorization
// requests: a request pushed at one replica is usable at the other, and when both replicas
// are handed the same request_uri at once exactly one starts the login; the other shows the
// invalid_request_uri page.
func TestHAPushedRequestOnce(t *testing.T) {
	c := startHAClusterWith(t, 2, haDatabase(t), haOptions{})
	verifier := randomString(t, 32)
	sum := sha256.Sum256([]byte(verifier))
	params := url.Values{"client_id": {c.client.ID}, "redirect_uri": {c.client.RedirectURI}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	push := func(replica int) string {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+c.addrs[replica]+"/par", strings.NewReader(params.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.client.ID, c.client.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			RequestURI string `json:"request_uri"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("push at replica %d: %d %v", replica, resp.StatusCode, err)
		}
		return body.RequestURI
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(replica int, uri string) int {
		resp, err := noRedirect.Get("http://" + c.addrs[replica] + "/authorize?" + url.Values{"client_id": {c.client.ID}, "request_uri": {uri}}.Encode())
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close() //nolint:errcheck // read-only body
		return resp.StatusCode
	}
	if st := authorize(1, push(0)); st != http.StatusFound && st != http.StatusSeeOther {
		t.Fatalf("pushed at replica 0, used at replica 1: %d", st)
	}
	for round := range 5 {
		uri := push(round % 2)
		var wg sync.WaitGroup
		got := make([]int, 2)
		for i := range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); got[i] = authorize(i, uri) }()
		}
		wg.Wait()
		started := 0
		for _, st := range got {
			switch st {
			case http.StatusFound, http.StatusSeeOther:
				started++
			case http.StatusBadRequest:
			default:
				t.Fatalf("round %d: status %d", round, st)
			}
		}
		if started != 1 {
			t.Fatalf("round %d: %d replicas started a login from one request_uri (statuses %v)", round, started, got)
		}
	}
}
