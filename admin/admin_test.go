package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"golang.org/x/crypto/bcrypt"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1/adminv1connect"
	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

const (
	opsID, opsSecret       = "ops-cli", "ops-secret"
	robotID, robotSecret   = "robot", "robot-secret"
	cfgAppID, cfgAppSecret = "cfg-app", "cfg-app-secret"
	alicePassword          = "alice-password"
	appRedirect            = "https://app.example.com/cb"
	cfgSPID, cfgSPEntity   = "cfg-sp", "https://cfg-sp.example.com"
)

// env is a Gatehouse with an admin client (ops-cli), a client_credentials client without the
// admin scope (robot), a configured web app (cfg-app) and the local user alice; admin serves
// its admin listener (HTTP/1.1 and h2c).
type env struct {
	gh    *brokertest.Server
	admin *httptest.Server
}

func newEnv(t testing.TB, dir string, adjust ...func(*config.Config)) *env {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	gh := brokertest.New(t, brokertest.Options{Dir: dir, Config: func(cfg *config.Config) {
		cfg.Admin.HTTP, cfg.Admin.Clients = "127.0.0.1:0", []string{opsID}
		cfg.Clients = append(cfg.Clients,
			config.Client{ID: opsID, Secret: opsSecret, GrantTypes: []string{"client_credentials"}, AllowedScopes: []string{config.AdminScope}},
			config.Client{ID: robotID, Secret: robotSecret, GrantTypes: []string{"client_credentials"}, AllowedScopes: []string{"reports"}},
			// Its back-channel logout URI is never reached (no delivery runs in these tests):
			// TestSessionsAndConsents looks at the queue.
			config.Client{ID: cfgAppID, Secret: cfgAppSecret, RedirectURIs: []string{appRedirect}, BackchannelLogoutURI: "http://127.0.0.1:1/bcl"},
		)
		cfg.ServiceProviders = append(cfg.ServiceProviders, config.ServiceProvider{ID: cfgSPID, EntityID: cfgSPEntity, ACSURL: cfgSPEntity + "/acs"})
		cfg.Users = append(cfg.Users, config.User{Username: "alice", Email: "alice@example.com", EmailVerified: true, PasswordHash: string(hash)})
		for _, f := range adjust {
			f(cfg)
		}
	}})
	srv := httptest.NewUnstartedServer(gh.Gatehouse.AdminHandler())
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{gh: gh, admin: srv}
}

// token posts a token request and returns the JSON answer and the status.
func (e *env) token(t testing.TB, id, secret string, form url.Values) (map[string]any, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.gh.Issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := e.gh.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // test
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body, resp.StatusCode
}

// clientToken returns a client_credentials access token of the client for scope.
func (e *env) clientToken(t testing.TB, id, secret, scope string) string {
	t.Helper()
	body, status := e.token(t, id, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
	if status != http.StatusOK {
		t.Fatalf("client_credentials for %s: %d %v", id, status, body)
	}
	return body["access_token"].(string)
}

// bearer adds an Authorization header to every call.
func bearer(tok string) connect.Option {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if tok != "" {
				req.Header().Set("Authorization", "Bearer "+tok)
			}
			return next(ctx, req)
		}
	}))
}

// clients returns an API client authenticated with tok over the Connect protocol, or gRPC.
func (e *env) clients(tok string, grpc bool) adminv1connect.ClientServiceClient {
	opts := []connect.ClientOption{bearer(tok)}
	hc := e.admin.Client()
	if grpc {
		opts = append(opts, connect.WithGRPC())
		hc = &http.Client{Transport: &http.Transport{Protocols: h2c()}}
	}
	return adminv1connect.NewClientServiceClient(hc, e.admin.URL, opts...)
}

func h2c() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}

// codeFlow logs alice in to the client and redeems the code; it returns the token answer.
func (e *env) codeFlow(t *testing.T, id, secret string) map[string]any {
	t.Helper()
	return e.codeFlowAs(t, id, secret, "alice", alicePassword)
}

// codeFlowAs is codeFlow for another user, in a new browser.
func (e *env) codeFlowAs(t *testing.T, id, secret, username, password string) map[string]any {
	t.Helper()
	verifier, challenge := brokertest.PKCE("verifier-0123456789-0123456789-0123456789-0123")
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {appRedirect},
		"scope": {"openid offline_access"}, "state": {"st"}, "nonce": {"n"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "prompt": {"consent"}}
	final := e.gh.Login(e.gh.Browser(), e.gh.Issuer+"/authorize?"+q.Encode(), username, password, true)
	u, err := url.Parse(final)
	if err != nil || u.Query().Get("code") == "" {
		t.Fatalf("no code in %q", final)
	}
	body, status := e.token(t, id, secret, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {appRedirect}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("code redemption: %d %v", status, body)
	}
	return body
}

func wantCode(t *testing.T, what string, err error, code connect.Code, field string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error %v, want %v", what, err, code)
	}
	if ce.Code() != code || !strings.HasPrefix(ce.Message(), field) {
		t.Fatalf("%s: %v %q, want %v naming %q", what, ce.Code(), ce.Message(), code, field)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, "")
	user := e.codeFlow(t, cfgAppID, cfgAppSecret)["access_token"].(string)
	tests := []struct {
		name string
		tok  string
		want connect.Code
	}{
		{"no token", "", connect.CodeUnauthenticated},
		{"garbage token", "not-a-jwt", connect.CodeUnauthenticated},
		{"token without the admin scope", e.clientToken(t, robotID, robotSecret, "reports"), connect.CodePermissionDenied},
		{"a user's token", user, connect.CodePermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, grpc := range []bool{false, true} {
				_, err := e.clients(tt.tok, grpc).ListClients(context.Background(), connect.NewRequest(&adminv1.ListClientsRequest{}))
				if connect.CodeOf(err) != tt.want {
					t.Fatalf("grpc=%v: %v, want %v", grpc, err, tt.want)
				}
			}
		})
	}
	// The robot cannot get the admin scope at all.
	if body, status := e.token(t, robotID, robotSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {config.AdminScope}}); status == http.StatusOK {
		t.Fatalf("robot got %s: %v", config.AdminScope, body)
	}
	ok := e.clients(e.clientToken(t, opsID, opsSecret, config.AdminScope), false)
	if _, err := ok.ListClients(context.Background(), connect.NewRequest(&adminv1.ListClientsRequest{})); err != nil {
		t.Fatalf("admin token refused: %v", err)
	}
	// A request without credentials is refused before its body is read: an oversized one too.
	resp, err := http.Post(e.admin.URL+"/gatehouse.admin.v1.ClientService/ListClients", "application/json", bytes.NewReader(make([]byte, 1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() //nolint:errcheck // test
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated JSON call: %d, want 401", resp.StatusCode)
	}
}

func TestClientLifecycle(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	api := e.clients(e.clientToken(t, opsID, opsSecret, config.AdminScope), false)
	created, err := api.CreateClient(ctx, connect.NewRequest(&adminv1.CreateClientRequest{Client: &adminv1.Client{
		Id: "web", Name: "Web", RedirectUris: []string{appRedirect}}}))
	if err != nil {
		t.Fatal(err)
	}
	secret := created.Msg.GetClientSecret()
	if len(secret) < 43 || created.Msg.GetClient().GetSource() != "api" {
		t.Fatalf("created %+v with secret %q", created.Msg.GetClient(), secret)
	}
	// It works at once: a code flow with refresh.
	tok := e.codeFlow(t, "web", secret)
	refresh := tok["refresh_token"].(string)
	body, status := e.token(t, "web", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %v", status, body)
	}
	refresh = body["refresh_token"].(string)

	got, err := api.GetClient(ctx, connect.NewRequest(&adminv1.GetClientRequest{Id: "web"}))
	if err != nil || got.Msg.GetClient().GetName() != "Web" {
		t.Fatalf("get: %v %v", got, err)
	}
	list, err := api.ListClients(ctx, connect.NewRequest(&adminv1.ListClientsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{}
	for _, c := range list.Msg.GetClients() {
		sources[c.GetId()] = c.GetSource()
	}
	if sources["web"] != "api" || sources[cfgAppID] != "config" || sources[opsID] != "config" {
		t.Fatalf("list sources = %v", sources)
	}

	upd, err := api.UpdateClient(ctx, connect.NewRequest(&adminv1.UpdateClientRequest{
		Client: &adminv1.Client{Id: "web", Name: "Web 2", RedirectUris: []string{"https://ignored.example/cb"}, Version: got.Msg.GetClient().GetVersion()}, UpdateMask: []string{"name"}}))
	if err != nil || upd.Msg.GetClient().GetName() != "Web 2" || upd.Msg.GetClient().GetRedirectUris()[0] != appRedirect {
		t.Fatalf("update: %v %v", upd, err)
	}

	rot, err := api.RotateClientSecret(ctx, connect.NewRequest(&adminv1.RotateClientSecretRequest{Id: "web"}))
	if err != nil {
		t.Fatal(err)
	}
	newSecret := rot.Msg.GetClientSecret()
	if body, status := e.token(t, "web", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("old secret after rotation: %d %v", status, body)
	}
	body, status = e.token(t, "web", newSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if status != http.StatusOK {
		t.Fatalf("new secret after rotation: %d %v", status, body)
	}
	refresh, access := body["refresh_token"].(string), body["access_token"].(string)

	if _, err := api.DeleteClient(ctx, connect.NewRequest(&adminv1.DeleteClientRequest{Id: "web"})); err != nil {
		t.Fatal(err)
	}
	if body, status := e.token(t, "web", newSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); status == http.StatusOK {
		t.Fatalf("refresh after delete: %v", body)
	}
	req, _ := http.NewRequest(http.MethodGet, e.gh.Issuer+"/userinfo", nil) //nolint:errcheck // constant URL
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := e.gh.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() //nolint:errcheck // test
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("userinfo with the deleted client's access token: %d", resp.StatusCode)
	}
	_, err = api.GetClient(ctx, connect.NewRequest(&adminv1.GetClientRequest{Id: "web"}))
	wantCode(t, "get deleted", err, connect.CodeNotFound, "id")

	// Every change is audited with the calling client as actor.
	events, err := e.gh.Store.(storage.AuditStore).ListAuditEvents(ctx, storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, ev := range events {
		if strings.HasPrefix(ev.Type, "admin.") {
			if ev.ClientID != opsID || ev.Detail["target"] != "web" || ev.Outcome != "success" {
				t.Errorf("audit event %+v", ev)
			}
			changes = append(changes, ev.Type)
		}
	}
	if strings.Join(changes, ",") != "admin.client.create,admin.client.update,admin.client.rotate_secret,admin.client.delete" {
		t.Fatalf("audited changes = %v", changes)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	api := e.clients(e.clientToken(t, opsID, opsSecret, config.AdminScope), false)
	if _, err := api.CreateClient(ctx, connect.NewRequest(&adminv1.CreateClientRequest{Client: &adminv1.Client{Id: "taken", RedirectUris: []string{appRedirect}}})); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 3000)
	many := make([]string, 40)
	for i := range many {
		many[i] = appRedirect
	}
	creates := []struct {
		name  string
		c     *adminv1.Client
		code  connect.Code
		field string
	}{
		{"no client", nil, connect.CodeInvalidArgument, "client"},
		{"empty id", &adminv1.Client{RedirectUris: []string{appRedirect}}, connect.CodeInvalidArgument, "client.id"},
		{"reserved id", &adminv1.Client{Id: "saml:wiki", RedirectUris: []string{appRedirect}}, connect.CodeInvalidArgument, "client.id"},
		{"oversized id", &adminv1.Client{Id: long, RedirectUris: []string{appRedirect}}, connect.CodeInvalidArgument, "client.id"},
		{"relative redirect", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect, "/cb"}}, connect.CodeInvalidArgument, "client.redirect_uris[1]"},
		{"fragment", &adminv1.Client{Id: "x", RedirectUris: []string{"https://a.example/cb#f"}}, connect.CodeInvalidArgument, "client.redirect_uris[0]"},
		{"no redirect", &adminv1.Client{Id: "x"}, connect.CodeInvalidArgument, "client.redirect_uris"},
		{"oversized redirect", &adminv1.Client{Id: "x", RedirectUris: []string{"https://a.example/" + long}}, connect.CodeInvalidArgument, "client.redirect_uris[0]"},
		{"too many redirects", &adminv1.Client{Id: "x", RedirectUris: many}, connect.CodeInvalidArgument, "client.redirect_uris"},
		{"oversized name", &adminv1.Client{Id: "x", Name: long, RedirectUris: []string{appRedirect}}, connect.CodeInvalidArgument, "client.name"},
		{"unknown connector", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, AllowedConnectors: []string{"ldap"}}, connect.CodeInvalidArgument, "client.allowed_connectors[0]"},
		{"unknown grant", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, GrantTypes: []string{"password"}}, connect.CodeInvalidArgument, "client.grant_types[0]"},
		{"admin scope", &adminv1.Client{Id: "x", GrantTypes: []string{"client_credentials"}, Scopes: []string{config.AdminScope}}, connect.CodeInvalidArgument, "client.scopes[0]"},
		{"duplicate", &adminv1.Client{Id: "taken", RedirectUris: []string{appRedirect}}, connect.CodeAlreadyExists, "client.id"},
		{"a configured id", &adminv1.Client{Id: cfgAppID, RedirectUris: []string{appRedirect}}, connect.CodeAlreadyExists, "client.id"},
		{"bad origin", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, AllowedOrigins: []string{"https://a.example/path"}}, connect.CodeInvalidArgument, "client.allowed_origins[0]"},
		{"jwks and jwks_uri", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, Jwks: testJWKS(t), JwksUri: "https://a.example/jwks"}, connect.CodeInvalidArgument, "client.jwks"},
		{"jwks not a key set", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, Jwks: `{"keys":[]}`}, connect.CodeInvalidArgument, "client.jwks"},
		{"jwks not JSON", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, Jwks: `{`}, connect.CodeInvalidArgument, "client.jwks"},
		{"private_key_jwt without keys", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, TokenEndpointAuthMethod: "private_key_jwt"}, connect.CodeInvalidArgument, "client.token_endpoint_auth_method"},
		{"unknown auth method", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, TokenEndpointAuthMethod: "tls_client_auth"}, connect.CodeInvalidArgument, "client.token_endpoint_auth_method"},
		{"none on a confidential client", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, TokenEndpointAuthMethod: "none"}, connect.CodeInvalidArgument, "client.token_endpoint_auth_method"},
		{"relative backchannel logout", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, BackchannelLogoutUri: "/bcl"}, connect.CodeInvalidArgument, "client.backchannel_logout_uri"},
		{"relative resource", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, Resources: []string{"api"}}, connect.CodeInvalidArgument, "client.resources[0]"},
		{"oversized jwks", &adminv1.Client{Id: "x", RedirectUris: []string{appRedirect}, Jwks: long + long + long + long + long + long}, connect.CodeInvalidArgument, "client.jwks"},
	}
	for _, tt := range creates {
		t.Run("create/"+tt.name, func(t *testing.T) {
			_, err := api.CreateClient(ctx, connect.NewRequest(&adminv1.CreateClientRequest{Client: tt.c}))
			wantCode(t, tt.name, err, tt.code, tt.field)
		})
	}
	changes := []struct {
		name  string
		call  func() error
		code  connect.Code
		field string
	}{
		{"update a config client", func() error {
			_, err := api.UpdateClient(ctx, connect.NewRequest(&adminv1.UpdateClientRequest{Client: &adminv1.Client{Id: cfgAppID, Name: "x"}, UpdateMask: []string{"name"}}))
			return err
		}, connect.CodeFailedPrecondition, "client.source"},
		{"rotate a config client", func() error {
			_, err := api.RotateClientSecret(ctx, connect.NewRequest(&adminv1.RotateClientSecretRequest{Id: cfgAppID}))
			return err
		}, connect.CodeFailedPrecondition, "client.source"},
		{"delete a config client", func() error {
			_, err := api.DeleteClient(ctx, connect.NewRequest(&adminv1.DeleteClientRequest{Id: opsID}))
			return err
		}, connect.CodeFailedPrecondition, "client.source"},
		{"update with a bad mask", func() error {
			_, err := api.UpdateClient(ctx, connect.NewRequest(&adminv1.UpdateClientRequest{Client: &adminv1.Client{Id: "taken"}, UpdateMask: []string{"id"}}))
			return err
		}, connect.CodeInvalidArgument, "update_mask[0]"},
		{"update to a bad redirect", func() error {
			_, err := api.UpdateClient(ctx, connect.NewRequest(&adminv1.UpdateClientRequest{Client: &adminv1.Client{Id: "taken", RedirectUris: []string{"nope"}, Version: 1}, UpdateMask: []string{"redirect_uris"}}))
			return err
		}, connect.CodeInvalidArgument, "client.redirect_uris[0]"},
		{"update unknown", func() error {
			_, err := api.UpdateClient(ctx, connect.NewRequest(&adminv1.UpdateClientRequest{Client: &adminv1.Client{Id: "nobody", Version: 1}}))
			return err
		}, connect.CodeNotFound, "client.id"},
		{"update without a version", func() error {
			_, err := api.UpdateClient(ctx, connect.NewRequest(&adminv1.UpdateClientRequest{Client: &adminv1.Client{Id: "taken", Name: "x"}, UpdateMask: []string{"name"}}))
			return err
		}, connect.CodeInvalidArgument, "client.version"},
		{"update from a stale version", func() error {
			_, err := api.UpdateClient(ctx, connect.NewRequest(&adminv1.UpdateClientRequest{Client: &adminv1.Client{Id: "taken", Name: "x", Version: 9}, UpdateMask: []string{"name"}}))
			return err
		}, connect.CodeAborted, "client.version"},
		{"delete unknown", func() error {
			_, err := api.DeleteClient(ctx, connect.NewRequest(&adminv1.DeleteClientRequest{Id: "nobody"}))
			return err
		}, connect.CodeNotFound, "id"},
	}
	for _, tt := range changes {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.name, tt.call(), tt.code, tt.field) })
	}
	// Nothing was half-written: the only stored client is the first one, unchanged.
	stored, err := e.gh.Store.(storage.ClientStore).ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].ID != "taken" || stored[0].RedirectURIs[0] != appRedirect {
		t.Fatalf("stored clients after bad input: %+v", stored)
	}
}

// TestWireFormats creates clients over gRPC (HTTP/2 without TLS) and over plain JSON with
// net/http, as curl would, and checks that both land.
func TestWireFormats(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	tok := e.clientToken(t, opsID, opsSecret, config.AdminScope)
	res, err := e.clients(tok, true).CreateClient(ctx, connect.NewRequest(&adminv1.CreateClientRequest{Client: &adminv1.Client{Id: "over-grpc", RedirectUris: []string{appRedirect}}}))
	if err != nil || res.Msg.GetClientSecret() == "" {
		t.Fatalf("gRPC create: %v %v", res, err)
	}
	_, err = e.clients(tok, true).CreateClient(ctx, connect.NewRequest(&adminv1.CreateClientRequest{Client: &adminv1.Client{Id: "over-grpc", RedirectUris: []string{appRedirect}}}))
	wantCode(t, "gRPC duplicate", err, connect.CodeAlreadyExists, "client.id")

	post := func(body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, e.admin.URL+"/gatehouse.admin.v1.ClientService/CreateClient", strings.NewReader(body)) //nolint:errcheck // constant URL
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close() //nolint:errcheck // test
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	status, out := post(`{"client":{"id":"over-json","redirectUris":["https://app.example.com/cb"],"public":true}}`)
	if status != http.StatusOK || out["client"].(map[string]any)["source"] != "api" || out["clientSecret"] != nil {
		t.Fatalf("JSON create: %d %v", status, out)
	}
	status, out = post(`{"client":{"id":"bad","redirectUris":["/cb"]}}`)
	if status != http.StatusBadRequest || out["code"] != "invalid_argument" || !strings.HasPrefix(out["message"].(string), "client.redirect_uris[0]") {
		t.Fatalf("JSON bad input: %d %v", status, out)
	}
	// A body over the bound is refused whole, with the code that says so.
	status, out = post(`{"client":{"id":"big","name":"` + strings.Repeat("n", 100<<10) + `","redirectUris":["https://a.example/cb"]}}`)
	if status == http.StatusOK || status >= 500 || out["code"] != "resource_exhausted" {
		t.Fatalf("oversized JSON body: %d %v", status, out)
	}
	for _, id := range []string{"over-grpc", "over-json"} {
		if _, err := e.gh.Store.(storage.ClientStore).GetClient(ctx, id); err != nil {
			t.Errorf("%s not stored: %v", id, err)
		}
	}
}

// TestReplicas: a client created through one replica works at once on another (two
// Gatehouses on one database).
func TestReplicas(t *testing.T) {
	dir := t.TempDir()
	a, b := newEnv(t, dir), newEnv(t, dir)
	ctx := context.Background()
	created, err := a.clients(a.clientToken(t, opsID, opsSecret, config.AdminScope), false).CreateClient(ctx,
		connect.NewRequest(&adminv1.CreateClientRequest{Client: &adminv1.Client{Id: "shared", GrantTypes: []string{"client_credentials"}, Scopes: []string{"reports"}}}))
	if err != nil {
		t.Fatal(err)
	}
	if tok := b.clientToken(t, "shared", created.Msg.GetClientSecret(), "reports"); tok == "" {
		t.Fatal("no token on b")
	}
	if _, err := b.clients(b.clientToken(t, opsID, opsSecret, config.AdminScope), false).DeleteClient(ctx,
		connect.NewRequest(&adminv1.DeleteClientRequest{Id: "shared"})); err != nil {
		t.Fatal(err)
	}
	if body, status := a.token(t, "shared", created.Msg.GetClientSecret(), url.Values{"grant_type": {"client_credentials"}}); status != http.StatusUnauthorized {
		t.Fatalf("deleted on b, still works on a: %d %v", status, body)
	}
}
