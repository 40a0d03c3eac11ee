package grants

import (
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

// tokenRequest builds a parsed token-style request with the form and, when user is not
// empty, HTTP Basic credentials.
func tokenRequest(t *testing.T, form url.Values, user, pass string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		r.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	if err := parseForm(httptest.NewRecorder(), r); err != nil {
		t.Fatalf("parseForm: %v", err)
	}
	return r
}

func TestAuthenticateClient(t *testing.T) {
	reg, err := clients.NewRegistry([]clients.Client{
		clients.New(clients.Client{ID: "web"}, "web-secret"),
		clients.New(clients.Client{ID: "spa", Public: true}, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Clients: reg, Logger: slog.New(slog.DiscardHandler)}
	tests := []struct {
		name       string
		form       url.Values
		user, pass string
		want       string         // authenticated client ID; "" when refused
		code       oauth2err.Code // the refusal's error code
	}{
		{"secret basic", url.Values{}, "web", "web-secret", "web", ""},
		{"secret post", url.Values{"client_id": {"web"}, "client_secret": {"web-secret"}}, "", "", "web", ""},
		{"public client, none", url.Values{"client_id": {"spa"}}, "", "", "spa", ""},
		{"public client with a secret", url.Values{"client_id": {"spa"}, "client_secret": {"x"}}, "", "", "", oauth2err.InvalidClient},
		{"wrong secret, basic", url.Values{}, "web", "web-secreT", "", oauth2err.InvalidClient},
		{"wrong secret, post", url.Values{"client_id": {"web"}, "client_secret": {"web-secre"}}, "", "", "", oauth2err.InvalidClient},
		{"confidential client without secret", url.Values{"client_id": {"web"}}, "", "", "", oauth2err.InvalidClient},
		{"unknown client", url.Values{}, "ghost", "web-secret", "", oauth2err.InvalidClient},
		{"no client at all", url.Values{}, "", "", "", oauth2err.InvalidClient},
		{"basic and post at once", url.Values{"client_secret": {"web-secret"}}, "web", "web-secret", "", oauth2err.InvalidRequest},
		{"client_id differs from basic", url.Values{"client_id": {"spa"}}, "web", "web-secret", "", oauth2err.InvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := h.authenticateClient(tokenRequest(t, tt.form, tt.user, tt.pass))
			switch {
			case tt.want != "" && (err != nil || c == nil || c.ID != tt.want):
				t.Errorf("got %v, %v; want client %q", c, err, tt.want)
			case tt.want == "" && (c != nil || oauth2err.As(err).Code != tt.code):
				t.Errorf("got %v, %v; want %s", c, err, tt.code)
			}
		})
	}
}

func TestParseForm(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		ok                      bool
	}{
		{"form", "application/x-www-form-urlencoded", "grant_type=x", true},
		{"form with charset", "application/x-www-form-urlencoded; charset=utf-8", "grant_type=x", true},
		{"json", "application/json", `{"grant_type":"x"}`, false},
		{"repeated parameter", "application/x-www-form-urlencoded", "code=a&code=b", false},
		{"too large", "application/x-www-form-urlencoded", "code=" + strings.Repeat("a", maxForm), false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(tt.body))
		r.Header.Set("Content-Type", tt.contentType)
		err := parseForm(httptest.NewRecorder(), r)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && oauth2err.As(err).Code != oauth2err.InvalidRequest {
			t.Errorf("%s: code %s, want invalid_request", tt.name, oauth2err.As(err).Code)
		}
	}
}

// TestSecretsComparedInConstantTime keeps every secret comparison in the clients registry
// (SHA-256 and subtle.ConstantTimeCompare, with the same work for an unknown client): no
// file of this package compares a presented secret itself.
func TestSecretsComparedInConstantTime(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			be, ok := n.(*ast.BinaryExpr)
			if !ok || (be.Op != token.EQL && be.Op != token.NEQ) {
				return true
			}
			for _, side := range []ast.Expr{be.X, be.Y} {
				if sel, ok := side.(*ast.SelectorExpr); ok && sel.Sel.Name == "Secret" {
					t.Errorf("%s: a client secret compared with %s; use clients.Registry.Authenticate", fset.Position(be.Pos()), be.Op)
				}
			}
			return true
		})
	}
}
