package admin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/go-jose/go-jose/v4"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	testKeyOnce sync.Once
	testKey     *ecdsa.PrivateKey
)

// signingKey is one P-256 key for the tests' private_key_jwt clients.
func signingKey(t testing.TB) *ecdsa.PrivateKey {
	testKeyOnce.Do(func() {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		testKey = k
	})
	return testKey
}

// testJWKS is the public key set of signingKey, as JSON text.
func testJWKS(t testing.TB) string {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &signingKey(t).PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// clientAssertion is a private_key_jwt assertion (RFC 7523) of client for aud.
func clientAssertion(t testing.TB, client, aud string) string {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: signingKey(t)}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, err := json.Marshal(map[string]any{"iss": client, "sub": client, "aud": aud, "jti": rand.Text(),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAPIClientPrivateKeyJWTAndOrigins creates a client through the API with a jwks (or a
// jwks_uri) and allowed_origins: it gets no secret, authenticates at the token endpoint with
// a signed assertion, a bad assertion is refused, and its origin gets CORS answers.
func TestAPIClientPrivateKeyJWTAndOrigins(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	api := e.clients(e.clientToken(t, opsID, opsSecret, config.AdminScope), false)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(testJWKS(t))) //nolint:errcheck // test server
	}))
	t.Cleanup(jwksSrv.Close)
	tests := []struct {
		name, id, origin string
		c                *adminv1.Client
	}{
		{"jwks", "pkjwt", "https://spa.example.com", &adminv1.Client{Jwks: testJWKS(t), TokenEndpointAuthMethod: "private_key_jwt"}},
		{"jwks_uri", "pkjwt-uri", "https://spa2.example.com", &adminv1.Client{JwksUri: jwksSrv.URL}},
	}
	for _, tt := range tests {
		c := tt.c
		c.Id, c.GrantTypes, c.Scopes, c.AllowedOrigins = tt.id, []string{"client_credentials"}, []string{"reports"}, []string{tt.origin}
		created, err := api.CreateClient(ctx, connect.NewRequest(&adminv1.CreateClientRequest{Client: c}))
		if err != nil {
			t.Fatal(err)
		}
		if created.Msg.GetClientSecret() != "" || created.Msg.GetClient().GetVersion() != 1 {
			t.Fatalf("a private_key_jwt client got a secret, or version %d", created.Msg.GetClient().GetVersion())
		}
	}
	time.Sleep(300 * time.Millisecond) // past originsMissTTL: new clients' origins count
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, aud := range []string{e.gh.Issuer + "/token", "https://other.example.com/token"} {
				form := url.Values{"grant_type": {"client_credentials"}, "scope": {"reports"},
					"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
					"client_assertion":      {clientAssertion(t, tt.id, aud)}}
				req, err := http.NewRequest(http.MethodPost, e.gh.Issuer+"/token", strings.NewReader(form.Encode()))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", tt.origin)
				resp, err := e.gh.HTTP.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close() //nolint:errcheck,gosec // test
				wantOK := aud == e.gh.Issuer+"/token"
				if (resp.StatusCode == http.StatusOK) != wantOK {
					t.Fatalf("assertion for %s: status %d", aud, resp.StatusCode)
				}
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.origin {
					t.Fatalf("Access-Control-Allow-Origin = %q, want %q", got, tt.origin)
				}
			}
		})
	}
	// An origin no client lists gets no CORS answer.
	req, err := http.NewRequest(http.MethodOptions, e.gh.Issuer+"/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "https://evil.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := e.gh.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() //nolint:errcheck,gosec // test
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("an unlisted origin got CORS")
	}
}

// TestUpdateClientConcurrent sends many updates from one version at once: exactly one
// succeeds, the others are aborted, and the stored client is the winner's.
func TestUpdateClientConcurrent(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	api := e.clients(e.clientToken(t, opsID, opsSecret, config.AdminScope), false)
	created, err := api.CreateClient(ctx, connect.NewRequest(&adminv1.CreateClientRequest{Client: &adminv1.Client{Id: "raced", RedirectUris: []string{appRedirect}}}))
	if err != nil {
		t.Fatal(err)
	}
	v := created.Msg.GetClient().GetVersion()
	const n = 8
	errs := make([]error, n)
	names := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		names[i] = "writer " + string(rune('a'+i))
		wg.Go(func() {
			_, errs[i] = api.UpdateClient(ctx, connect.NewRequest(&adminv1.UpdateClientRequest{
				Client: &adminv1.Client{Id: "raced", Name: names[i], Version: v}, UpdateMask: []string{"name"}}))
		})
	}
	wg.Wait()
	winner := ""
	for i, err := range errs {
		var ce *connect.Error
		switch {
		case err == nil && winner != "":
			t.Fatalf("two updates from version %d succeeded", v)
		case err == nil:
			winner = names[i]
		case !errors.As(err, &ce) || ce.Code() != connect.CodeAborted:
			t.Fatalf("update %d: %v, want aborted", i, err)
		}
	}
	got, err := api.GetClient(ctx, connect.NewRequest(&adminv1.GetClientRequest{Id: "raced"}))
	if err != nil {
		t.Fatal(err)
	}
	if winner == "" || got.Msg.GetClient().GetName() != winner || got.Msg.GetClient().GetVersion() != v+1 {
		t.Fatalf("stored %q at %d; winner %q", got.Msg.GetClient().GetName(), got.Msg.GetClient().GetVersion(), winner)
	}
}

// TestInitialAccessTokens issues, lists and deletes initial access tokens: refused while
// registration is off, bounded by max_clients_per_token and the lifetime limit, stored
// hashed, and audited.
func TestInitialAccessTokens(t *testing.T) {
	ctx := context.Background()
	off := newEnv(t, "")
	_, err := off.clients(off.clientToken(t, opsID, opsSecret, config.AdminScope), false).CreateInitialAccessToken(ctx,
		connect.NewRequest(&adminv1.CreateInitialAccessTokenRequest{}))
	wantCode(t, "registration off", err, connect.CodeFailedPrecondition, "registration")

	e := newEnv(t, "", func(cfg *config.Config) { cfg.Registration.Enabled, cfg.Registration.MaxClientsPerToken = true, 3 })
	api := e.clients(e.clientToken(t, opsID, opsSecret, config.AdminScope), false)
	bad := []struct {
		name  string
		req   *adminv1.CreateInitialAccessTokenRequest
		field string
	}{
		{"too many uses", &adminv1.CreateInitialAccessTokenRequest{MaxUses: 4}, "max_uses"},
		{"negative uses", &adminv1.CreateInitialAccessTokenRequest{MaxUses: -1}, "max_uses"},
		{"negative ttl", &adminv1.CreateInitialAccessTokenRequest{TtlSeconds: -5}, "ttl_seconds"},
		{"ttl past 30 days", &adminv1.CreateInitialAccessTokenRequest{TtlSeconds: 31 * 24 * 3600}, "ttl_seconds"},
	}
	for _, tt := range bad {
		_, err := api.CreateInitialAccessToken(ctx, connect.NewRequest(tt.req))
		wantCode(t, tt.name, err, connect.CodeInvalidArgument, tt.field)
	}
	r, err := api.CreateInitialAccessToken(ctx, connect.NewRequest(&adminv1.CreateInitialAccessTokenRequest{MaxUses: 3, TtlSeconds: 600}))
	if err != nil {
		t.Fatal(err)
	}
	iat := r.Msg.GetInitialAccessToken()
	if r.Msg.GetToken() == "" || iat.GetMaxUses() != 3 || iat.GetCreatedBy() != opsID ||
		iat.GetExpireTime().AsTime().Sub(iat.GetCreateTime().AsTime()) != 10*time.Minute {
		t.Fatalf("created: %v", r.Msg)
	}
	stored, err := e.gh.Store.(storage.RegistrationStore).ListInitialAccessTokens(ctx)
	if err != nil || len(stored) != 1 || stored[0].TokenHash == r.Msg.GetToken() || strings.Contains(stored[0].TokenHash, r.Msg.GetToken()) {
		t.Fatalf("stored: %+v %v (only the hash may be stored)", stored, err)
	}
	list, err := api.ListInitialAccessTokens(ctx, connect.NewRequest(&adminv1.ListInitialAccessTokensRequest{}))
	if err != nil || len(list.Msg.GetInitialAccessTokens()) != 1 || list.Msg.GetInitialAccessTokens()[0].GetId() != iat.GetId() {
		t.Fatalf("list: %v %v", list, err)
	}
	if _, err := api.DeleteInitialAccessToken(ctx, connect.NewRequest(&adminv1.DeleteInitialAccessTokenRequest{Id: iat.GetId()})); err != nil {
		t.Fatal(err)
	}
	_, err = api.DeleteInitialAccessToken(ctx, connect.NewRequest(&adminv1.DeleteInitialAccessTokenRequest{Id: iat.GetId()}))
	wantCode(t, "delete again", err, connect.CodeNotFound, "id")
	events, err := e.gh.Store.(storage.AuditStore).ListAuditEvents(ctx, storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range events {
		seen[ev.Type] = true
	}
	if !seen["admin.registration_token.create"] || !seen["admin.registration_token.delete"] {
		t.Fatalf("audit events: %v", seen)
	}
}

// TestLeavePrivateKeyJWT moves a private_key_jwt client back to a secret: after the update it
// has no usable secret (its assertions and any guessed secret are refused) until
// RotateClientSecret gives it one.
func TestLeavePrivateKeyJWT(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	api := e.clients(e.clientToken(t, opsID, opsSecret, config.AdminScope), false)
	c := &adminv1.Client{Id: "keyed", GrantTypes: []string{"client_credentials"}, Scopes: []string{"reports"}, Jwks: testJWKS(t)}
	if _, err := api.CreateClient(ctx, connect.NewRequest(&adminv1.CreateClientRequest{Client: c})); err != nil {
		t.Fatal(err)
	}
	if _, err := api.UpdateClient(ctx, connect.NewRequest(&adminv1.UpdateClientRequest{
		Client: &adminv1.Client{Id: "keyed", Version: 1}, UpdateMask: []string{"jwks", "token_endpoint_auth_method"}})); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"reports"}}
	if body, status := e.token(t, "keyed", "", form); status != http.StatusUnauthorized {
		t.Fatalf("a client without a usable secret got %d %v", status, body)
	}
	rot, err := api.RotateClientSecret(ctx, connect.NewRequest(&adminv1.RotateClientSecretRequest{Id: "keyed"}))
	if err != nil {
		t.Fatal(err)
	}
	if body, status := e.token(t, "keyed", rot.Msg.GetClientSecret(), form); status != http.StatusOK {
		t.Fatalf("after rotate-secret: %d %v", status, body)
	}
}
