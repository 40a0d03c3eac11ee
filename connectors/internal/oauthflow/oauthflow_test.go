package oauthflow

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
)

func TestNextLink(t *testing.T) {
	tests := []struct{ header, want string }{
		{``, ``},
		{`<https://api.github.com/user/teams?page=2>; rel="next", <https://api.github.com/user/teams?page=5>; rel="last"`, `https://api.github.com/user/teams?page=2`},
		{`<https://x/?page=1>; rel="prev", <https://x/?page=3>; rel=next`, `https://x/?page=3`},
		{`<https://x/?page=9>; rel="last"`, ``},
		{`<https://x/a>; rel="next last"`, `https://x/a`},
		{`garbage; rel="next"`, ``},
	}
	for _, tt := range tests {
		if got := NextLink(tt.header); got != tt.want {
			t.Errorf("NextLink(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestResolveRefusesOtherHost(t *testing.T) {
	if _, err := resolve("https://api.example/a?page=1", "https://evil.example/a?page=2"); err == nil {
		t.Fatal("next page on another host accepted")
	}
	if got, err := resolve("https://api.example/a?page=1", "/a?page=2"); err != nil || got != "https://api.example/a?page=2" {
		t.Fatalf("relative next: %q %v", got, err)
	}
}

func TestLookupAndStrings(t *testing.T) {
	claims, err := DecodeClaims([]byte(`{"id": 12345678901234, "data": {"email": "a@b.c", "roles": ["x", "y", 3]}, "https://example.com/groups": ["g"], "ok": "true"}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want []string
	}{
		{"id", []string{"12345678901234"}},
		{"data.email", []string{"a@b.c"}},
		{"data.roles", []string{"x", "y", "3"}},
		{"https://example.com/groups", []string{"g"}},
		{"data.missing", nil},
		{"id.x", nil},
	}
	for _, tt := range tests {
		v, _ := Lookup(claims, tt.path)
		if got := Strings(v); !slices.Equal(got, tt.want) {
			t.Errorf("Lookup(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	if !Bool(claims["ok"]) {
		t.Error(`Bool("true") = false`)
	}
	if a := Attrs(claims); !slices.Equal(a["data"], []string{`{"email":"a@b.c","roles":["x","y",3]}`}) {
		t.Errorf("Attrs object = %q", a["data"])
	}
}

func TestReadCallback(t *testing.T) {
	want := Callback{State: "s", Issuer: "https://idp.example", Provider: "IdP"}
	tests := []struct {
		name       string
		query      url.Values
		requireIss bool
		wantCode   string
		wantDenied bool
		wantUp     bool
	}{
		{name: "ok", query: url.Values{"code": {"c"}, "state": {"s"}, "iss": {"https://idp.example"}}, wantCode: "c"},
		{name: "ok without iss", query: url.Values{"code": {"c"}, "state": {"s"}}, wantCode: "c"},
		{name: "iss required", query: url.Values{"code": {"c"}, "state": {"s"}}, requireIss: true},
		{name: "iss mismatch", query: url.Values{"code": {"c"}, "state": {"s"}, "iss": {"https://evil.example"}}},
		{name: "state mismatch", query: url.Values{"code": {"c"}, "state": {"x"}}},
		{name: "no state", query: url.Values{"code": {"c"}}},
		{name: "access_denied", query: url.Values{"error": {"access_denied"}, "error_description": {"User said no\x00"}, "state": {"s"}}, wantDenied: true},
		{name: "temporarily_unavailable", query: url.Values{"error": {"temporarily_unavailable"}, "state": {"s"}}, wantUp: true},
		{name: "other error", query: url.Values{"error": {"invalid_scope"}, "state": {"s"}}},
		{name: "error with wrong state", query: url.Values{"error": {"access_denied"}, "state": {"x"}}},
		{name: "no code", query: url.Values{"state": {"s"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := want
			w.RequireIss = tt.requireIss
			code, err := ReadCallback(httptest.NewRequest("GET", "/cb?"+tt.query.Encode(), nil), w)
			var denied *connectors.DeniedError
			var up *connectors.UpstreamError
			switch {
			case tt.wantCode != "":
				if err != nil || code != tt.wantCode {
					t.Fatalf("got %q, %v", code, err)
				}
			case tt.wantDenied:
				if !errors.As(err, &denied) || denied.Reason != "the sign-in was cancelled or refused at IdP (User said no)" {
					t.Fatalf("err = %v", err)
				}
			case tt.wantUp:
				if !errors.As(err, &up) {
					t.Fatalf("err = %v", err)
				}
			default:
				if err == nil || errors.As(err, &denied) {
					t.Fatalf("err = %v, want a plain error", err)
				}
			}
		})
	}
}

func TestRefreshError(t *testing.T) {
	resp := func(status int) *http.Response { return &http.Response{StatusCode: status} }
	tests := []struct {
		name        string
		err         error
		wantRevoked bool
		wantUp      bool
	}{
		{"invalid_grant", &oauth2.RetrieveError{Response: resp(400), ErrorCode: "invalid_grant"}, true, false},
		{"bare 400", &oauth2.RetrieveError{Response: resp(400)}, true, false},
		{"5xx", &oauth2.RetrieveError{Response: resp(503)}, false, true},
		{"invalid_client", &oauth2.RetrieveError{Response: resp(401), ErrorCode: "invalid_client"}, false, true},
		{"unreachable", &url.Error{Op: "Post", URL: "x", Err: &netErr{}}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := RefreshError(tt.err)
			var up *connectors.UpstreamError
			if errors.Is(err, connectors.ErrUpstreamRevoked) != tt.wantRevoked || errors.As(err, &up) != tt.wantUp {
				t.Fatalf("RefreshError = %v", err)
			}
		})
	}
}

type netErr struct{}

func (netErr) Error() string   { return "connection refused" }
func (netErr) Timeout() bool   { return false }
func (netErr) Temporary() bool { return false }

// TestGetNextPaged follows a body "next" URL (Bitbucket Cloud's paging) to the end, and never
// sends the bearer token to a "next" on another host.
func TestGetNextPaged(t *testing.T) {
	var srv *httptest.Server
	var sawToken []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawToken = append(sawToken, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("page") {
		case "":
			_, _ = w.Write([]byte(`{"values": ["a", "b"], "next": "` + srv.URL + `/list?page=2"}`))
		case "2":
			_, _ = w.Write([]byte(`{"values": ["c"]}`))
		case "evil":
			_, _ = w.Write([]byte(`{"values": ["x"], "next": "https://evil.example/list?page=3"}`))
		}
	}))
	defer srv.Close()
	ctx := t.Context()
	got, err := GetNextPaged[string](ctx, API{HTTP: srv.Client()}, srv.URL+"/list", "tok")
	if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("GetNextPaged = %q, %v", got, err)
	}
	if _, err := GetNextPaged[string](ctx, API{HTTP: srv.Client()}, srv.URL+"/list?page=evil", "tok"); err == nil {
		t.Fatal("a next page on another host was followed")
	}
	if len(sawToken) != 3 {
		t.Errorf("%d requests, want 3", len(sawToken))
	}
}

// TestValidateBaseURL: a server URL over https (http only on loopback); rootOnly refuses a path.
func TestValidateBaseURL(t *testing.T) {
	for _, tc := range []struct {
		raw      string
		rootOnly bool
		ok       bool
	}{
		{"https://git.example.com", true, true},
		{"https://git.example.com/", true, true},
		{"https://git.example.com/sub", false, true},
		{"http://127.0.0.1:3000", false, true},
		{"https://git.example.com/sub", true, false},
		{"git.example.com", false, false},
		{"https://git.example.com?x=1", false, false},
		{"https://git.example.com#f", false, false},
		{"http://git.example.com", false, false},
	} {
		err := ValidateBaseURL(tc.raw, "https://git.example.com", tc.rootOnly)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateBaseURL(%q, rootOnly %v) = %v, want ok %v", tc.raw, tc.rootOnly, err, tc.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "base_url: ") {
			t.Errorf("ValidateBaseURL(%q): %v does not name base_url", tc.raw, err)
		}
	}
	if errs := ValidateClient("", ""); len(errs) != 2 {
		t.Errorf("ValidateClient(\"\", \"\") = %v, want client_id and client_secret", errs)
	}
}
