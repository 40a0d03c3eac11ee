package clients

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

func TestMatchRedirectURI(t *testing.T) {
	tests := []struct {
		name       string
		registered []string
		requested  string
		want       bool
	}{
		{"exact https", []string{"https://app.example.com/cb"}, "https://app.example.com/cb", true},
		{"exact among several", []string{"https://a.example/cb", "https://b.example/cb"}, "https://b.example/cb", true},
		{"empty requested", []string{"https://a.example/cb"}, "", false},
		{"nothing registered", nil, "https://a.example/cb", false},
		{"different path", []string{"https://a.example/cb"}, "https://a.example/cb2", false},
		{"path prefix", []string{"https://a.example/cb"}, "https://a.example/cb/x", false},
		{"trailing slash", []string{"https://a.example/cb"}, "https://a.example/cb/", false},
		{"extra query", []string{"https://a.example/cb"}, "https://a.example/cb?x=1", false},
		{"exact with query", []string{"https://a.example/cb?x=1"}, "https://a.example/cb?x=1", true},
		{"different query", []string{"https://a.example/cb?x=1"}, "https://a.example/cb?x=2", false},
		{"https port never relaxed", []string{"https://a.example/cb"}, "https://a.example:8443/cb", false},
		{"https loopback port never relaxed", []string{"https://127.0.0.1/cb"}, "https://127.0.0.1:8443/cb", false},
		{"http non-loopback port never relaxed", []string{"http://a.example/cb"}, "http://a.example:8080/cb", false},
		{"case differs in host", []string{"https://a.example/cb"}, "https://A.example/cb", false},
		{"fragment", []string{"https://a.example/cb"}, "https://a.example/cb#x", false},
		{"fragment even when registered", []string{"https://a.example/cb#x"}, "https://a.example/cb#x", false},
		{"empty fragment", []string{"https://a.example/cb"}, "https://a.example/cb#", false},
		{"userinfo", []string{"https://a.example/cb"}, "https://user@a.example/cb", false},

		// RFC 8252 7.3: loopback, any port.
		{"ipv4 loopback any port", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:51004/cb", true},
		{"ipv4 loopback no port exact", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1/cb", true},
		{"ipv4 loopback registered with port", []string{"http://127.0.0.1:3000/cb"}, "http://127.0.0.1:51004/cb", true},
		{"ipv4 loopback no path", []string{"http://127.0.0.1"}, "http://127.0.0.1:9000", true},
		{"ipv6 loopback any port", []string{"http://[::1]/cb"}, "http://[::1]:51004/cb", true},
		{"localhost any port", []string{"http://localhost/cb"}, "http://localhost:51004/cb", true},
		{"loopback with query", []string{"http://127.0.0.1/cb?a=b"}, "http://127.0.0.1:1/cb?a=b", true},
		{"loopback different query", []string{"http://127.0.0.1/cb?a=b"}, "http://127.0.0.1:1/cb?a=c", false},
		{"loopback extra query", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:1/cb?a=b", false},
		{"loopback empty query", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:1/cb?", false},
		{"loopback different path", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:1/other", false},
		{"loopback encoded path", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:1/%63b", false},
		{"loopback dot segments", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:1/x/../cb", false},
		{"loopback other host family", []string{"http://127.0.0.1/cb"}, "http://[::1]:1/cb", false},
		{"localhost does not match 127.0.0.1", []string{"http://localhost/cb"}, "http://127.0.0.1:1/cb", false},
		{"other 127/8 address", []string{"http://127.0.0.1/cb"}, "http://127.0.0.2:1/cb", false},
		{"loopback userinfo", []string{"http://127.0.0.1/cb"}, "http://u:p@127.0.0.1:1/cb", false},
		{"loopback userinfo trick", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:1@evil.example/cb", false},
		{"loopback fragment", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:1/cb#f", false},
		{"loopback empty port", []string{"http://127.0.0.1/cb"}, "http://127.0.0.1:/cb", false},
		{"loopback https request", []string{"http://127.0.0.1/cb"}, "https://127.0.0.1:1/cb", false},
		{"loopback registered with userinfo", []string{"http://u@127.0.0.1/cb"}, "http://127.0.0.1:1/cb", false},
		{"non-loopback registration, loopback request", []string{"https://a.example/cb"}, "http://127.0.0.1:1/cb", false},

		// RFC 8252 7.1: private-use schemes, exact only.
		{"private-use exact", []string{"com.example.app:/callback"}, "com.example.app:/callback", true},
		{"private-use different path", []string{"com.example.app:/callback"}, "com.example.app:/callback2", false},
		{"private-use with authority", []string{"com.example.app:/callback"}, "com.example.app://callback", false},
		{"private-use with port", []string{"com.example.app:/callback"}, "com.example.app://localhost:1/callback", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchRedirectURI(tt.registered, tt.requested); got != tt.want {
				t.Errorf("MatchRedirectURI(%q, %q) = %v, want %v", tt.registered, tt.requested, got, tt.want)
			}
		})
	}
}

// loopbackEquivalent is the fuzz invariant, written independently of MatchRedirectURI: a
// non-exact match must be an http loopback URI, with a port and without userinfo, fragment
// or empty query marker, whose host, path and query equal those of a registered http
// loopback URI.
func loopbackEquivalent(registered []string, requested string) bool {
	if strings.Contains(requested, "#") {
		return false
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || req.User != nil || req.Opaque != "" || req.Port() == "" {
		return false
	}
	h := req.Hostname()
	if h != "127.0.0.1" && h != "::1" && h != "localhost" {
		return false
	}
	for _, r := range registered {
		ru, err := url.Parse(r)
		if err != nil || ru.Scheme != "http" || ru.User != nil || ru.Opaque != "" {
			continue
		}
		if ru.Hostname() == h && ru.EscapedPath() == req.EscapedPath() && ru.RawQuery == req.RawQuery &&
			!strings.HasSuffix(requested, "?") {
			return true
		}
	}
	return false
}

func FuzzMatchRedirectURI(f *testing.F) {
	seeds := [][2]string{
		{"https://app.example.com/cb", "https://app.example.com/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"},
		{"http://[::1]/cb", "http://[::1]:8080/cb"},
		{"http://localhost/cb?x=1", "http://localhost:1/cb?x=1"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:1/cb#frag"},
		{"http://127.0.0.1/cb", "http://u@127.0.0.1:1/cb"},
		{"com.example.app:/callback", "com.example.app:/callback"},
		{"https://a.example/cb", "https://a.example:443/cb"},
		{"http://127.0.0.1/cb", "HTTP://127.0.0.1:1/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:1/%63b"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, reg, requested string) {
		registered := []string{reg, "https://fixed.example/cb"}
		got := MatchRedirectURI(registered, requested)
		if !got {
			if slices.Contains(registered, requested) && requested != "" && !strings.Contains(requested, "#") {
				t.Fatalf("exact registered URI %q refused", requested)
			}
			return
		}
		if strings.Contains(requested, "#") {
			t.Fatalf("URI with a fragment matched: %q", requested)
		}
		if slices.Contains(registered, requested) {
			return
		}
		if !loopbackEquivalent(registered, requested) {
			t.Fatalf("non-exact match of %q against %q is not an http loopback URI with the same path and query", requested, registered)
		}
	})
}

func TestNewRegistry(t *testing.T) {
	r, err := NewRegistry([]Client{{ID: "a"}, {ID: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Get("a") == nil || r.Get("b") == nil || r.Get("c") != nil {
		t.Errorf("Get returned the wrong clients")
	}
	if n := len(r.All()); n != 2 {
		t.Errorf("All() has %d clients, want 2", n)
	}
	if _, err := NewRegistry([]Client{{ID: "a"}, {ID: "a"}}); err == nil {
		t.Errorf("duplicate IDs accepted")
	}
	var nilReg *Registry
	if nilReg.Get("a") != nil {
		t.Errorf("nil registry returned a client")
	}
}

func TestAllowsConnector(t *testing.T) {
	all := Client{}
	if !all.AllowsConnector("ldap") {
		t.Errorf("empty allow-list refused a connector")
	}
	some := Client{AllowedConnectors: []string{"ldap", "github"}}
	if !some.AllowsConnector("github") || some.AllowsConnector("local") {
		t.Errorf("allow-list not applied")
	}
}

func formRequest(t *testing.T, form url.Values, basicUser, basicPass string, basic bool) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		r.SetBasicAuth(basicUser, basicPass)
	}
	if err := r.ParseForm(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReadCredentials(t *testing.T) {
	tests := []struct {
		name       string
		form       url.Values
		basic      bool
		user, pass string
		want       Credentials
		wantErr    bool
	}{
		{
			name: "basic", basic: true, user: "app", pass: "s3cret",
			want: Credentials{ID: "app", Secret: "s3cret", Method: "client_secret_basic"},
		},
		{
			name: "basic form-urlencoded (RFC 6749 2.3.1)", basic: true,
			user: url.QueryEscape("my app:1"), pass: url.QueryEscape("p@ss:wo+rd/ä%"),
			want: Credentials{ID: "my app:1", Secret: "p@ss:wo+rd/ä%", Method: "client_secret_basic"},
		},
		{
			name: "basic plus means space", basic: true, user: "a+b", pass: "c+d",
			want: Credentials{ID: "a b", Secret: "c d", Method: "client_secret_basic"},
		},
		{
			name: "basic malformed escape", basic: true, user: "app", pass: "%zz", wantErr: true,
		},
		{
			name: "basic with matching client_id in body", basic: true, user: "app", pass: "s",
			form: url.Values{"client_id": {"app"}},
			want: Credentials{ID: "app", Secret: "s", Method: "client_secret_basic"},
		},
		{
			name: "basic with mismatched client_id", basic: true, user: "app", pass: "s",
			form: url.Values{"client_id": {"other"}}, wantErr: true,
		},
		{
			name: "basic and post secret", basic: true, user: "app", pass: "s",
			form: url.Values{"client_id": {"app"}, "client_secret": {"s"}}, wantErr: true,
		},
		{
			name: "post",
			form: url.Values{"client_id": {"app"}, "client_secret": {"s"}},
			want: Credentials{ID: "app", Secret: "s", Method: "client_secret_post"},
		},
		{
			name: "none",
			form: url.Values{"client_id": {"spa"}},
			want: Credentials{ID: "spa", Method: "none"},
		},
		{
			name: "nothing",
			want: Credentials{Method: "none"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := formRequest(t, tt.form, tt.user, tt.pass, tt.basic)
			got, err := ReadCredentials(r)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ReadCredentials() = %+v, want error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadCredentials() error: %v", err)
			}
			if got != tt.want {
				t.Errorf("ReadCredentials() = %+v, want %+v", got, tt.want)
			}
		})
	}
	r := formRequest(t, url.Values{"client_id": {"app"}, "client_secret": {"s"}}, "app", "s", true)
	if _, err := ReadCredentials(r); !errors.Is(err, ErrMultipleMethods) {
		t.Errorf("basic+post error = %v, want ErrMultipleMethods", err)
	}
}

func TestAuthenticate(t *testing.T) {
	reg, err := NewRegistry([]Client{
		New(Client{ID: "web"}, "web-secret"),
		New(Client{ID: "spa", Public: true}, ""),
		New(Client{ID: "nosecret"}, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cr   Credentials
		want string // "" = nil
	}{
		{"confidential basic", Credentials{ID: "web", Secret: "web-secret", Method: "client_secret_basic"}, "web"},
		{"confidential post", Credentials{ID: "web", Secret: "web-secret", Method: "client_secret_post"}, "web"},
		{"confidential wrong secret", Credentials{ID: "web", Secret: "nope", Method: "client_secret_basic"}, ""},
		{"confidential empty secret", Credentials{ID: "web", Secret: "", Method: "client_secret_basic"}, ""},
		{"confidential without secret", Credentials{ID: "web", Method: "none"}, ""},
		{"confidential none with a secret field", Credentials{ID: "web", Secret: "web-secret", Method: "none"}, ""},
		{"public none", Credentials{ID: "spa", Method: "none"}, "spa"},
		{"public with secret refused", Credentials{ID: "spa", Secret: "x", Method: "client_secret_post"}, ""},
		{"public with empty basic refused", Credentials{ID: "spa", Method: "client_secret_basic"}, ""},
		{"confidential registered without secret, empty secret", Credentials{ID: "nosecret", Method: "client_secret_post"}, ""},
		{"unknown client", Credentials{ID: "ghost", Secret: "x", Method: "client_secret_basic"}, ""},
		{"unknown client none", Credentials{ID: "ghost", Method: "none"}, ""},
		{"empty id", Credentials{Method: "none"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reg.Authenticate(tt.cr)
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("Authenticate() = %q, want nil", got.ID)
			case tt.want != "" && (got == nil || got.ID != tt.want):
				t.Errorf("Authenticate() = %v, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckSecret(t *testing.T) {
	c := New(Client{ID: "web"}, "s")
	if !c.CheckSecret("s") || c.CheckSecret("S") || c.CheckSecret("") {
		t.Errorf("CheckSecret wrong")
	}
	p := New(Client{ID: "spa", Public: true}, "s")
	if p.CheckSecret("s") {
		t.Errorf("public client accepted a secret")
	}
}

// fakeClientStore is a storage.ClientStore with one stored client, or a failure.
type fakeClientStore struct {
	storage.ClientStore
	clients map[string]storage.Client
	err     error
}

func (f fakeClientStore) GetClient(_ context.Context, id string) (storage.Client, error) {
	if f.err != nil {
		return storage.Client{}, f.err
	}
	c, ok := f.clients[id]
	if !ok {
		return storage.Client{}, storage.ErrNotFound
	}
	return c, nil
}

func TestRegistryStoredClients(t *testing.T) {
	stored := storage.Client{ID: "api-app", SecretHash: HashSecret("s3cret"), RedirectURIs: []string{"https://a.example/cb"}}
	shadow := storage.Client{ID: "cfg-app", SecretHash: HashSecret("stored-secret")}
	badHash := storage.Client{ID: "bad-hash", SecretHash: "zz"}
	fs := fakeClientStore{clients: map[string]storage.Client{"api-app": stored, "cfg-app": shadow, "bad-hash": badHash}}
	reg, err := NewRegistry([]Client{New(Client{ID: "cfg-app"}, "config-secret")})
	if err != nil {
		t.Fatal(err)
	}
	reg.WithStore(fs, slog.New(slog.DiscardHandler))
	tests := []struct {
		name   string
		cr     Credentials
		wantID string
		errs   bool
	}{
		{"stored client, right secret", Credentials{ID: "api-app", Secret: "s3cret", Method: "client_secret_basic"}, "api-app", false},
		{"stored client, wrong secret", Credentials{ID: "api-app", Secret: "s3cre", Method: "client_secret_basic"}, "", false},
		{"stored client, no secret", Credentials{ID: "api-app", Method: "none"}, "", false},
		{"config overlay wins", Credentials{ID: "cfg-app", Secret: "config-secret", Method: "client_secret_post"}, "cfg-app", false},
		{"stored shadowed secret refused", Credentials{ID: "cfg-app", Secret: "stored-secret", Method: "client_secret_post"}, "", false},
		{"unknown", Credentials{ID: "nobody", Secret: "x", Method: "client_secret_post"}, "", false},
		{"corrupt stored hash", Credentials{ID: "bad-hash", Secret: "x", Method: "client_secret_post"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := reg.AuthenticateContext(context.Background(), tt.cr)
			if (err != nil) != tt.errs {
				t.Fatalf("err = %v, want error %v", err, tt.errs)
			}
			got := ""
			if c != nil {
				got = c.ID
			}
			if got != tt.wantID {
				t.Fatalf("authenticated %q, want %q", got, tt.wantID)
			}
		})
	}
	if c := reg.Get("api-app"); c == nil || c.Source != SourceAPI || !MatchRedirectURI(c.RedirectURIs, "https://a.example/cb") {
		t.Fatalf("Get(api-app) = %+v", c)
	}
	if c := reg.Get("cfg-app"); c == nil || c.Source != SourceConfig {
		t.Fatalf("Get(cfg-app) = %+v", c)
	}
	failing := &Registry{byID: map[string]*Client{}}
	failing.WithStore(fakeClientStore{err: errors.New("database is down")}, slog.New(slog.DiscardHandler))
	if _, err := failing.Lookup(context.Background(), "api-app"); err == nil {
		t.Fatal("a storage failure was not reported by Lookup")
	}
	if c, err := failing.AuthenticateContext(context.Background(), Credentials{ID: "api-app", Secret: "s3cret", Method: "client_secret_post"}); err == nil || c != nil {
		t.Fatalf("AuthenticateContext on a failing store = %v, %v", c, err)
	}
	if failing.Get("api-app") != nil {
		t.Fatal("Get on a failing store returned a client")
	}
}

// TestRegistryResolver: IDs with a resolver's prefix are found through it (never the client
// store), a configured client hides a resolved one, and a resolver's error is returned.
func TestRegistryResolver(t *testing.T) {
	reg, err := NewRegistry([]Client{New(Client{ID: "saml:cfg"}, "")})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("storage down")
	reg.WithStore(fakeClientStore{clients: map[string]storage.Client{"saml:shadow": {ID: "saml:shadow"}}}, slog.New(slog.DiscardHandler))
	reg.WithResolver("saml:", func(_ context.Context, id string) (*Client, error) {
		switch id {
		case "saml:stored", "saml:cfg":
			return &Client{ID: id, Source: SourceAPI}, nil
		case "saml:broken":
			return nil, boom
		}
		return nil, nil
	})
	tests := []struct {
		id, wantSource string
		wantErr        error
	}{
		{"saml:stored", SourceAPI, nil},
		{"saml:cfg", SourceConfig, nil},
		{"saml:shadow", "", nil}, // the prefix belongs to the resolver, not the client store
		{"saml:missing", "", nil},
		{"saml:broken", "", boom},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			c, err := reg.Lookup(context.Background(), tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			got := ""
			if c != nil {
				got = c.Source
			}
			if got != tt.wantSource {
				t.Fatalf("source = %q, want %q", got, tt.wantSource)
			}
		})
	}
}
