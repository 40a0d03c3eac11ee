package google_test

// The Admin SDK Directory API and Google's service-account token endpoint cannot be reached
// from the test machines: these tests serve what Google documents on an httptest server. The
// token endpoint takes the JWT bearer grant (RFC 7523: grant_type
// urn:ietf:params:oauth:grant-type:jwt-bearer, an RS256 assertion with iss = the service
// account's client_email, sub = the impersonated admin, scope, aud = token_uri) and answers
// {"access_token", "token_type", "expires_in"} or {"error": "unauthorized_client"} when
// domain-wide delegation is missing; GET /admin/directory/v1/groups?userKey=... answers
// {"kind": "admin#directory#groups", "groups": [{"id", "email", "name", ...}], "nextPageToken"}
// and 404 {"error": {"code": 404, "message": "Resource Not Found: userKey"}} for an unknown user.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/claims/claimstest"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/google"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
	"github.com/gatehouse-id/gatehouse/storage"
)

const (
	saEmail = "gatehouse@acme-project.iam.gserviceaccount.com"
	admin   = "admin@acme.test"
)

// fakeDirectory is Google's service-account token endpoint and the Directory API's groups
// list, on the fake Google's server.
type fakeDirectory struct {
	mu sync.Mutex
	// members maps a user key (the immutable ID, and, as the real API also accepts, the
	// primary email) to group emails.
	members   map[string][]string
	userKeys  []string // userKey of every groups request
	tokens    int      // service-account tokens issued
	refuse    bool     // answer unauthorized_client (no domain-wide delegation)
	keyFile   string
	validTok  string
	tokenPath string
}

// serviceAccountKey is the fake service account's RSA key, generated once for the package.
var serviceAccountKey = func() func(t *testing.T) *rsa.PrivateKey {
	var once sync.Once
	var key *rsa.PrivateKey
	var err error
	return func(t *testing.T) *rsa.PrivateKey {
		once.Do(func() { key, err = rsa.GenerateKey(rand.Reader, 2048) })
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
}()

func newDirectory(t *testing.T, s *fakeoauth.Server) *fakeDirectory {
	t.Helper()
	key := serviceAccountKey(t)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDirectory{tokenPath: "/sa/token", members: map[string][]string{
		"1001": {"eng@acme.test", "all@acme.test", "ops-oncall@acme.test"}, "alice@acme.test": {"eng@acme.test", "all@acme.test", "ops-oncall@acme.test"},
		"1003": {"all@evil.test"},
	}}
	kb, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "acme-project", "private_key_id": "kid1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": saEmail,
		"client_id": "1234567890", "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": s.URL + d.tokenPath,
	})
	d.keyFile = filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(d.keyFile, kb, 0o600); err != nil {
		t.Fatal(err)
	}
	s.Handle("POST "+d.tokenPath, func(w http.ResponseWriter, r *http.Request) { d.token(t, w, r, &key.PublicKey, s.URL+d.tokenPath) })
	s.Handle("GET /admin/directory/v1/groups", d.groups)
	return d
}

func (d *fakeDirectory) token(t *testing.T, w http.ResponseWriter, r *http.Request, pub *rsa.PublicKey, aud string) {
	if r.FormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		fakeoauth.JSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	tok, err := josejwt.ParseSigned(r.FormValue("assertion"), []jose.SignatureAlgorithm{jose.RS256})
	var c struct {
		josejwt.Claims
		Scope string `json:"scope"`
	}
	if err == nil {
		err = tok.Claims(pub, &c)
	}
	if err != nil || c.Issuer != saEmail || c.Subject != admin || c.Scope != google.DirectoryScope || !slices.Contains(c.Audience, aud) {
		t.Errorf("service-account assertion: %v %+v", err, c)
		fakeoauth.JSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refuse {
		fakeoauth.JSON(w, 401, map[string]string{"error": "unauthorized_client", "error_description": "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."})
		return
	}
	d.tokens++
	d.validTok = "ya29.dir-" + c.ID + string(rune('a'+d.tokens))
	fakeoauth.JSON(w, 200, map[string]any{"access_token": d.validTok, "token_type": "Bearer", "expires_in": 3599})
}

func (d *fakeDirectory) groups(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.validTok == "" || r.Header.Get("Authorization") != "Bearer "+d.validTok {
		fakeoauth.JSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "Request had invalid authentication credentials."}})
		return
	}
	key := r.URL.Query().Get("userKey")
	d.userKeys = append(d.userKeys, key)
	gs, ok := d.members[key]
	if !ok {
		fakeoauth.JSON(w, 404, map[string]any{"error": map[string]any{"code": 404, "message": "Resource Not Found: userKey"}})
		return
	}
	// Two groups per page, the rest behind nextPageToken.
	start := 0
	if r.URL.Query().Get("pageToken") == "p2" {
		start = 2
	}
	page := map[string]any{"kind": "admin#directory#groups", "etag": `"e"`}
	var rows []map[string]any
	for i, g := range gs[start:min(start+2, len(gs))] {
		rows = append(rows, map[string]any{"kind": "admin#directory#group", "id": "0" + string(rune('a'+start+i)), "email": g,
			"name": strings.Split(g, "@")[0], "directMembersCount": "3", "adminCreated": true})
	}
	page["groups"] = rows
	if start == 0 && len(gs) > 2 {
		page["nextPageToken"] = "p2"
	}
	fakeoauth.JSON(w, 200, page)
}

func openGroups(t *testing.T, s *fakeoauth.Server, d *fakeDirectory, cfg google.Config) *oidc.Connector {
	t.Helper()
	cfg.ClientID, cfg.ClientSecret = s.ClientID, s.ClientSecret
	cfg.ServiceAccountFile, cfg.AdminEmail = d.keyFile, admin
	cfg.SetIssuer(s.URL)
	cfg.SetDirectory(s.URL)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "google", Type: "google", Name: "Google"}, connectors.Deps{CallbackURL: callback})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*oidc.Connector)
}

func loginScopes(t *testing.T, s *fakeoauth.Server, c *oidc.Connector, user string, sc connectors.Scopes) (connectors.Upstream, error) {
	t.Helper()
	ctx := context.Background()
	step, err := c.Begin(ctx, connectors.BeginRequest{Scopes: sc, CallbackURL: callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	return c.Finish(ctx, connectors.FinishRequest{Scopes: sc, CallbackURL: callback, State: "st", Stash: step.Stash}, httptest.NewRequest("GET", s.Authorize(t, step.URL, user), nil))
}

// TestWorkspaceGroups reads groups from the Directory API as the service account
// impersonating admin_email, keyed by the user's immutable ID.
func TestWorkspaceGroups(t *testing.T) {
	tests := []struct {
		name        string
		cfg         google.Config
		user        string
		groupsScope bool
		wantGroups  []string
		wantKeys    []string // userKeys the directory saw
		wantDenied  bool
	}{
		{name: "groups of a Workspace user, paged", user: "alice", groupsScope: true,
			wantGroups: []string{"eng@acme.test", "all@acme.test", "ops-oncall@acme.test"}, wantKeys: []string{"1001", "1001"}},
		{name: "no lookup without the groups scope", user: "alice"},
		{name: "required groups filter", cfg: google.Config{Groups: []string{"ENG@acme.test", "x@acme.test"}}, user: "alice",
			wantGroups: []string{"eng@acme.test"}, wantKeys: []string{"1001", "1001"}},
		{name: "not in a required group", cfg: google.Config{Groups: []string{"admins@acme.test"}}, user: "alice", wantDenied: true},
		// Attack: a personal Google account registered with a Workspace address (a
		// "conflicting account") carries that address as its email. Looking groups up by
		// email would hand it the Workspace user's groups; the lookup is by immutable ID and
		// only for Workspace accounts (hd).
		{name: "personal account with a Workspace address gets no groups", user: "mallory", groupsScope: true},
		{name: "personal account refused by required groups", cfg: google.Config{Groups: []string{"eng@acme.test"}}, user: "mallory", wantDenied: true},
		{name: "Workspace user unknown to the directory has no groups", user: "unv", groupsScope: true, wantKeys: []string{"1004"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakeGoogle(t)
			d := newDirectory(t, s)
			up, err := loginScopes(t, s, openGroups(t, s, d, tt.cfg), tt.user, connectors.Scopes{Groups: tt.groupsScope})
			if tt.wantDenied {
				var denied *connectors.DeniedError
				if !errors.As(err, &denied) {
					t.Fatalf("err = %v, want DeniedError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(up.Groups, tt.wantGroups) || !slices.Equal(d.userKeys, tt.wantKeys) {
				t.Errorf("groups = %q (directory asked for %q), want %q (%q)", up.Groups, d.userKeys, tt.wantGroups, tt.wantKeys)
			}
		})
	}
}

// TestWorkspaceGroupsRefresh: groups are read again at every refresh, so a user removed from
// the required group loses the downstream grant; the service-account token is reused while
// valid.
func TestWorkspaceGroupsRefresh(t *testing.T) {
	s := fakeGoogle(t)
	d := newDirectory(t, s)
	c := openGroups(t, s, d, google.Config{Groups: []string{"ops-oncall@acme.test"}})
	sc := connectors.Scopes{Offline: true, Groups: true}
	up, err := loginScopes(t, s, c, "alice", sc)
	if err != nil || !slices.Equal(up.Groups, []string{"ops-oncall@acme.test"}) {
		t.Fatalf("login: %q %v", up.Groups, err)
	}
	ctx := context.Background()
	prev := connectors.Upstream{Subject: up.Subject, Stash: up.Stash}
	if _, err := c.Refresh(ctx, sc, prev); err != nil {
		t.Fatal(err)
	}
	if d.tokens != 1 {
		t.Errorf("%d service-account tokens, want 1 reused", d.tokens)
	}
	d.mu.Lock()
	d.members["1001"] = []string{"all@acme.test"}
	d.mu.Unlock()
	if _, err := c.Refresh(ctx, sc, prev); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after leaving the group: %v", err)
	}
}

// TestWorkspaceGroupsDelegationRefused: without domain-wide delegation Google refuses the
// service account's token; a login that needs groups fails (it never proceeds without them)
// with an upstream error naming the fix.
func TestWorkspaceGroupsDelegationRefused(t *testing.T) {
	s := fakeGoogle(t)
	d := newDirectory(t, s)
	d.refuse = true
	_, err := loginScopes(t, s, openGroups(t, s, d, google.Config{}), "alice", connectors.Scopes{Groups: true})
	var ue *connectors.UpstreamError
	if !errors.As(err, &ue) || ue.Temporary || !strings.Contains(err.Error(), "domain-wide delegation") {
		t.Fatalf("err = %v, want a non-temporary UpstreamError about delegation", err)
	}
}

// TestServiceAccountFile: a bad key file fails Open with the key's name; the private key
// never appears in the message; token_uri must be https.
func TestServiceAccountFile(t *testing.T) {
	s := fakeGoogle(t)
	d := newDirectory(t, s)
	good, err := os.ReadFile(d.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var k map[string]string
	if err := json.Unmarshal(good, &k); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(map[string]string)) string {
		m := map[string]string{}
		for a, b := range k {
			m[a] = b
		}
		f(m)
		b, _ := json.Marshal(m)
		p := filepath.Join(t.TempDir(), "key.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct{ name, path, want string }{
		{"missing file", filepath.Join(t.TempDir(), "none.json"), "service_account_file"},
		{"not a service account", edit(func(m map[string]string) { m["type"] = "authorized_user" }), "service_account"},
		{"bad private key", edit(func(m map[string]string) {
			m["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
		}), "private_key"},
		{"plain http token_uri", edit(func(m map[string]string) { m["token_uri"] = "http://oauth2.example.com/token" }), "token_uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := google.Config{ClientID: "a", ClientSecret: "b", ServiceAccountFile: tt.path, AdminEmail: admin}
			_, err := cfg.Open(context.Background(), connectors.Info{ID: "google"}, connectors.Deps{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "BEGIN") {
				t.Fatalf("Open = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestValidateGroups(t *testing.T) {
	base := func(c google.Config) google.Config {
		c.ClientID, c.ClientSecret = "a", "b"
		return c
	}
	tests := []struct {
		name string
		cfg  google.Config
		want string
	}{
		{"ok", base(google.Config{ServiceAccountFile: "sa.json", AdminEmail: admin, Groups: []string{"eng@acme.test"}}), ""},
		{"admin without key", base(google.Config{AdminEmail: admin}), "service_account_file"},
		{"key without admin", base(google.Config{ServiceAccountFile: "sa.json"}), "admin_email"},
		{"groups without a service account", base(google.Config{Groups: []string{"eng@acme.test"}}), "groups"},
		{"admin not an email", base(google.Config{ServiceAccountFile: "sa.json", AdminEmail: "admin"}), "admin_email"},
		{"group not an email", base(google.Config{ServiceAccountFile: "sa.json", AdminEmail: admin, Groups: []string{"eng"}}), "groups[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestDefaultClaims records the upstream identity made from the documented answers (ID
// token and Directory groups) in testdata/google-upstream.json (the input for `gatehouse
// claims explain`; claims/testdata has a copy) and runs the default claims pipeline over it.
func TestDefaultClaims(t *testing.T) {
	s := fakeGoogle(t)
	d := newDirectory(t, s)
	up, err := loginScopes(t, s, openGroups(t, s, d, google.Config{HostedDomains: []string{"acme.test"}}), "alice", connectors.Scopes{Groups: true})
	if err != nil {
		t.Fatal(err)
	}
	up.Stash = nil // tokens of this run; never recorded
	claimstest.RecordUpstream(t, filepath.Join("testdata", "google-upstream.json"), up)
	claimstest.CheckDefaultClaims(t, "google", up, storage.Identity{
		Email: "alice@acme.test", EmailVerified: true, Name: "Alice",
		Groups: []string{"eng@acme.test", "all@acme.test", "ops-oncall@acme.test"},
	})
}
