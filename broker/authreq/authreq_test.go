package authreq

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

// challenge is a valid S256 code_challenge (43 base64url characters).
const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

func testRegistry(t testing.TB) *clients.Registry {
	t.Helper()
	reg, err := clients.NewRegistry([]clients.Client{
		clients.New(clients.Client{ID: "web", RedirectURIs: []string{"https://app.example/cb", "https://app.example/cb2?x=1"},
			Resources: []string{"https://api.example/", "urn:example:api"}}, "secret"),
		clients.New(clients.Client{ID: "spa", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb", "com.example.app:/oauth"}}, ""),
		clients.New(clients.Client{ID: "ldaponly", RedirectURIs: []string{"https://l.example/cb"}, AllowedConnectors: []string{"ldap"}}, "s"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func knownScope(s string) bool {
	switch s {
	case "openid", "profile", "email", "groups", "offline_access":
		return true
	}
	return false
}

// base returns a valid request for the web client, with overrides applied: an empty string
// value deletes the key.
func base(over map[string]string) url.Values {
	v := url.Values{
		"client_id":     {"web"},
		"redirect_uri":  {"https://app.example/cb"},
		"response_type": {"code"},
		"scope":         {"openid email"},
		"state":         {"st-123"},
		"nonce":         {"n-1"},
	}
	for k, val := range over {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return v
}

func spa(over map[string]string) url.Values {
	m := map[string]string{
		"client_id":             "spa",
		"redirect_uri":          "http://127.0.0.1:49152/cb",
		"code_challenge":        challenge,
		"code_challenge_method": "S256",
	}
	for k, v := range over {
		m[k] = v
	}
	return base(m)
}

func TestParse(t *testing.T) {
	reg := testRegistry(t)
	type want struct {
		code       oauth2err.Code // "" = success
		noRedirect bool
		nilClient  bool
		desc       string // substring of the description
	}
	tests := []struct {
		name  string
		form  url.Values
		want  want
		check func(t *testing.T, r Request)
	}{
		{name: "valid confidential", form: base(nil), check: func(t *testing.T, r Request) {
			if r.ClientID != "web" || r.RedirectURI != "https://app.example/cb" || r.State != "st-123" || r.Nonce != "n-1" ||
				r.ResponseType != "code" || r.ResponseMode != "query" || r.MaxAge != -1 || !slices.Equal(r.Scopes, []string{"openid", "email"}) {
				t.Errorf("request = %+v", r)
			}
			if r.CodeChallengeMethod != "" || r.Prompt != nil || r.ACRValues != nil {
				t.Errorf("unexpected optional fields: %+v", r)
			}
		}},
		{name: "valid public with PKCE and loopback port", form: spa(nil), check: func(t *testing.T, r Request) {
			if r.CodeChallenge != challenge || r.CodeChallengeMethod != "S256" || r.RedirectURI != "http://127.0.0.1:49152/cb" {
				t.Errorf("request = %+v", r)
			}
		}},
		{name: "dpop_jkt", form: spa(map[string]string{"dpop_jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}), check: func(t *testing.T, r Request) {
			if r.DPoPJKT != "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" {
				t.Errorf("DPoPJKT = %q", r.DPoPJKT)
			}
		}},
		{name: "dpop_jkt not a thumbprint", form: spa(map[string]string{"dpop_jkt": "abc"}),
			want: want{code: oauth2err.InvalidRequest, desc: "dpop_jkt"}},
		{name: "dpop_jkt padded", form: spa(map[string]string{"dpop_jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I="}),
			want: want{code: oauth2err.InvalidRequest, desc: "dpop_jkt"}},
		{name: "valid public private-use scheme", form: spa(map[string]string{"redirect_uri": "com.example.app:/oauth"})},
		{name: "registered URI with query", form: base(map[string]string{"redirect_uri": "https://app.example/cb2?x=1"})},

		// Errors that must never redirect.
		{name: "missing client_id", form: base(map[string]string{"client_id": ""}),
			want: want{code: oauth2err.InvalidRequest, noRedirect: true, nilClient: true, desc: "client_id"}},
		{name: "unknown client", form: base(map[string]string{"client_id": "ghost"}),
			want: want{code: oauth2err.InvalidClient, noRedirect: true, nilClient: true, desc: "ghost"}},
		{name: "unknown client long id truncated", form: base(map[string]string{"client_id": strings.Repeat("x", 5000)}),
			want: want{code: oauth2err.InvalidClient, noRedirect: true, nilClient: true, desc: "..."}},
		{name: "repeated client_id", form: func() url.Values { v := base(nil); v.Add("client_id", "web"); return v }(),
			want: want{code: oauth2err.InvalidRequest, noRedirect: true, nilClient: true, desc: "repeated"}},
		{name: "repeated redirect_uri", form: func() url.Values { v := base(nil); v.Add("redirect_uri", "https://app.example/cb"); return v }(),
			want: want{code: oauth2err.InvalidRequest, noRedirect: true, nilClient: true, desc: "repeated"}},
		{name: "missing redirect_uri", form: base(map[string]string{"redirect_uri": ""}),
			want: want{code: oauth2err.InvalidRequest, noRedirect: true, desc: "redirect_uri"}},
		{name: "unregistered redirect_uri", form: base(map[string]string{"redirect_uri": "https://evil.example/cb"}),
			want: want{code: oauth2err.InvalidRequest, noRedirect: true, desc: "not registered"}},
		{name: "redirect_uri with fragment", form: base(map[string]string{"redirect_uri": "https://app.example/cb#x"}),
			want: want{code: oauth2err.InvalidRequest, noRedirect: true}},
		{name: "redirect_uri of another client", form: base(map[string]string{"redirect_uri": "https://l.example/cb"}),
			want: want{code: oauth2err.InvalidRequest, noRedirect: true}},
		{name: "https port not relaxed", form: base(map[string]string{"redirect_uri": "https://app.example:444/cb"}),
			want: want{code: oauth2err.InvalidRequest, noRedirect: true}},
		{name: "unregistered redirect wins over other errors", form: base(map[string]string{"redirect_uri": "https://evil.example/cb", "response_type": "token", "request": "x"}),
			want: want{code: oauth2err.InvalidRequest, noRedirect: true}},

		// Errors sent back to the client.
		{name: "response_mode unsupported", form: base(map[string]string{"response_mode": "fragment"}),
			want: want{code: oauth2err.InvalidRequest, desc: "response_mode"}},
		{name: "oversized state with an earlier error is not echoed", form: base(map[string]string{"response_mode": "x", "state": strings.Repeat("s", 4*maxStateLen+1)}),
			want: want{code: oauth2err.InvalidRequest, desc: "response_mode"}, check: func(t *testing.T, r Request) {
				if r.State != "" {
					t.Errorf("an oversized state is echoed (%d bytes)", len(r.State))
				}
			}},
		{name: "response_mode form_post", form: base(map[string]string{"response_mode": "form_post"}), check: func(t *testing.T, r Request) {
			if r.ResponseMode != "form_post" {
				t.Errorf("ResponseMode = %q", r.ResponseMode)
			}
		}},
		{name: "repeated scope", form: func() url.Values { v := base(nil); v.Add("scope", "openid"); return v }(),
			want: want{code: oauth2err.InvalidRequest, desc: "scope is repeated"}},
		{name: "repeated state", form: func() url.Values { v := base(nil); v.Add("state", "b"); return v }(),
			want: want{code: oauth2err.InvalidRequest, desc: "state is repeated"}},
		{name: "repeated unknown parameter", form: func() url.Values { v := base(nil); v["foo"] = []string{"1", "2"}; return v }(),
			want: want{code: oauth2err.InvalidRequest, desc: "foo is repeated"}},
		{name: "login_hint at limit", form: base(map[string]string{"login_hint": strings.Repeat("a", maxParamLen)})},
		{name: "login_hint too long", form: base(map[string]string{"login_hint": strings.Repeat("a", maxParamLen+1)}),
			want: want{code: oauth2err.InvalidRequest, desc: "too long"}},
		{name: "nonce too long", form: base(map[string]string{"nonce": strings.Repeat("a", maxParamLen+1)}),
			want: want{code: oauth2err.InvalidRequest, desc: "nonce is too long"}},
		{name: "state at limit", form: base(map[string]string{"state": strings.Repeat("s", 4*maxStateLen)})},
		{name: "state too long", form: base(map[string]string{"state": strings.Repeat("s", 4*maxStateLen+1)}),
			want: want{code: oauth2err.InvalidRequest, desc: "state is too long"}, check: func(t *testing.T, r Request) {
				if r.State != "" {
					t.Errorf("an oversized state is echoed (%d bytes)", len(r.State))
				}
			}},
		{name: "id_token_hint long allowed", form: base(map[string]string{"id_token_hint": strings.Repeat("h", 4*maxStateLen)})},
		{name: "request object", form: base(map[string]string{"request": "eyJ..."}),
			want: want{code: oauth2err.RequestNotSupported}},
		{name: "request_uri", form: base(map[string]string{"request_uri": "https://x/r"}),
			want: want{code: oauth2err.RequestURINotSupported}},
		{name: "response_type missing", form: base(map[string]string{"response_type": ""}),
			want: want{code: oauth2err.InvalidRequest, desc: "response_type"}},
		{name: "response_type token", form: base(map[string]string{"response_type": "token"}),
			want: want{code: oauth2err.UnsupportedResponseType}},
		{name: "response_type hybrid", form: base(map[string]string{"response_type": "code id_token"}),
			want: want{code: oauth2err.UnsupportedResponseType}},
		{name: "scope missing", form: base(map[string]string{"scope": ""}),
			want: want{code: oauth2err.InvalidScope}},
		{name: "scope only spaces", form: base(map[string]string{"scope": "   "}),
			want: want{code: oauth2err.InvalidScope}},
		{name: "unknown scope", form: base(map[string]string{"scope": "openid admin"}),
			want: want{code: oauth2err.InvalidScope, desc: `"admin"`}},
		{name: "scopes deduplicated", form: base(map[string]string{"scope": "openid  email openid email profile"}), check: func(t *testing.T, r Request) {
			if !slices.Equal(r.Scopes, []string{"openid", "email", "profile"}) {
				t.Errorf("Scopes = %q", r.Scopes)
			}
			if !r.HasScope("profile") || r.HasScope("groups") {
				t.Errorf("HasScope wrong")
			}
		}},

		// PKCE.
		{name: "public without PKCE", form: spa(map[string]string{"code_challenge": "", "code_challenge_method": ""}),
			want: want{code: oauth2err.InvalidRequest, desc: "PKCE"}},
		{name: "method without challenge", form: base(map[string]string{"code_challenge_method": "S256"}),
			want: want{code: oauth2err.InvalidRequest, desc: "without code_challenge"}},
		{name: "plain refused", form: spa(map[string]string{"code_challenge_method": "plain"}),
			want: want{code: oauth2err.InvalidRequest, desc: "plain"}},
		{name: "missing method (defaults to plain) refused", form: spa(map[string]string{"code_challenge_method": ""}),
			want: want{code: oauth2err.InvalidRequest, desc: "S256"}},
		{name: "unknown method", form: spa(map[string]string{"code_challenge_method": "S512"}),
			want: want{code: oauth2err.InvalidRequest, desc: "unsupported code_challenge_method"}},
		{name: "lowercase s256 refused", form: spa(map[string]string{"code_challenge_method": "s256"}),
			want: want{code: oauth2err.InvalidRequest}},
		{name: "challenge too short", form: spa(map[string]string{"code_challenge": challenge[:42]}),
			want: want{code: oauth2err.InvalidRequest, desc: "43"}},
		{name: "challenge too long", form: spa(map[string]string{"code_challenge": challenge + "A"}),
			want: want{code: oauth2err.InvalidRequest, desc: "43"}},
		{name: "challenge with padding", form: spa(map[string]string{"code_challenge": challenge[:42] + "="}),
			want: want{code: oauth2err.InvalidRequest}},
		{name: "challenge with std base64 chars", form: spa(map[string]string{"code_challenge": challenge[:41] + "+/"}),
			want: want{code: oauth2err.InvalidRequest}},
		{name: "confidential with PKCE", form: base(map[string]string{"code_challenge": challenge, "code_challenge_method": "S256"})},

		// prompt.
		{name: "prompt none", form: base(map[string]string{"prompt": "none"}), check: func(t *testing.T, r Request) {
			if !r.HasPrompt("none") || r.HasPrompt("login") {
				t.Errorf("Prompt = %q", r.Prompt)
			}
		}},
		{name: "prompt login consent select_account", form: base(map[string]string{"prompt": "login consent select_account"}), check: func(t *testing.T, r Request) {
			if !slices.Equal(r.Prompt, []string{"login", "consent", "select_account"}) {
				t.Errorf("Prompt = %q", r.Prompt)
			}
		}},
		{name: "prompt duplicate none", form: base(map[string]string{"prompt": "none none"}), check: func(t *testing.T, r Request) {
			if !slices.Equal(r.Prompt, []string{"none"}) {
				t.Errorf("Prompt = %q", r.Prompt)
			}
		}},
		{name: "prompt none with login", form: base(map[string]string{"prompt": "none login"}),
			want: want{code: oauth2err.InvalidRequest, desc: "prompt=none"}},
		{name: "prompt consent with none", form: base(map[string]string{"prompt": "consent none"}),
			want: want{code: oauth2err.InvalidRequest, desc: "prompt=none"}},
		{name: "prompt unknown", form: base(map[string]string{"prompt": "login create"}),
			want: want{code: oauth2err.InvalidRequest, desc: `"create"`}},

		// max_age.
		{name: "max_age 0", form: base(map[string]string{"max_age": "0"}), check: func(t *testing.T, r Request) {
			if r.MaxAge != 0 {
				t.Errorf("MaxAge = %d", r.MaxAge)
			}
		}},
		{name: "max_age 3600", form: base(map[string]string{"max_age": "3600"}), check: func(t *testing.T, r Request) {
			if r.MaxAge != 3600 {
				t.Errorf("MaxAge = %d", r.MaxAge)
			}
		}},
		{name: "max_age negative", form: base(map[string]string{"max_age": "-1"}), want: want{code: oauth2err.InvalidRequest, desc: "max_age"}},
		{name: "max_age text", form: base(map[string]string{"max_age": "1h"}), want: want{code: oauth2err.InvalidRequest, desc: "max_age"}},
		{name: "max_age overflow", form: base(map[string]string{"max_age": "99999999999999999999999"}), want: want{code: oauth2err.InvalidRequest, desc: "max_age"}},

		// connector_id, hints, acr.
		{name: "connector_id any allowed", form: base(map[string]string{"connector_id": "github"}), check: func(t *testing.T, r Request) {
			if r.ConnectorID != "github" {
				t.Errorf("ConnectorID = %q", r.ConnectorID)
			}
		}},
		{name: "connector_id in allow-list", form: base(map[string]string{"client_id": "ldaponly", "redirect_uri": "https://l.example/cb", "connector_id": "ldap"})},
		{name: "connector_id not allowed", form: base(map[string]string{"client_id": "ldaponly", "redirect_uri": "https://l.example/cb", "connector_id": "github"}),
			want: want{code: oauth2err.InvalidRequest, desc: "connector_id"}},
		{name: "hints and acr", form: base(map[string]string{"login_hint": "ann@example.com", "id_token_hint": "eyJ.x.y", "acr_values": "urn:a  urn:b"}), check: func(t *testing.T, r Request) {
			if r.LoginHint != "ann@example.com" || r.IDTokenHint != "eyJ.x.y" || !slices.Equal(r.ACRValues, []string{"urn:a", "urn:b"}) {
				t.Errorf("request = %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, client, err := Parse(tt.form, reg, knownScope)
			if tt.want.nilClient != (client == nil) {
				t.Errorf("client = %v, want nil: %v", client, tt.want.nilClient)
			}
			if tt.want.code == "" {
				if err != nil {
					t.Fatalf("Parse() error: %v", err)
				}
				if client.ID != req.ClientID {
					t.Errorf("client %q for request of %q", client.ID, req.ClientID)
				}
				if tt.check != nil {
					tt.check(t, req)
				}
				return
			}
			var e *oauth2err.Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse() error = %v, want *oauth2err.Error %s", err, tt.want.code)
			}
			if e.Code != tt.want.code {
				t.Errorf("Code = %q, want %q (%v)", e.Code, tt.want.code, err)
			}
			if e.NoRedirect != tt.want.noRedirect {
				t.Errorf("NoRedirect = %v, want %v (%v)", e.NoRedirect, tt.want.noRedirect, err)
			}
			if !strings.Contains(e.Description, tt.want.desc) {
				t.Errorf("Description = %q, want it to contain %q", e.Description, tt.want.desc)
			}
			if tt.check != nil {
				tt.check(t, req)
			}
			if len(e.Description) > 200 {
				t.Errorf("Description is %d bytes long", len(e.Description))
			}
			if !e.NoRedirect {
				// A redirectable error carries what the redirect needs.
				if req.RedirectURI == "" || client == nil {
					t.Errorf("redirectable error without redirect target: %+v", req)
				}
				if st := tt.form.Get("state"); len(tt.form["state"]) == 1 && len(st) <= 4*maxStateLen && req.State != st {
					t.Errorf("State = %q, want %q", req.State, st)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	seeds := []url.Values{
		base(nil),
		spa(nil),
		spa(map[string]string{"code_challenge_method": "plain"}),
		base(map[string]string{"prompt": "none login", "max_age": "-3"}),
		base(map[string]string{"redirect_uri": "https://app.example/cb#f"}),
		base(map[string]string{"client_id": "ldaponly", "redirect_uri": "https://l.example/cb", "connector_id": "ldap"}),
		base(map[string]string{"request_uri": "x", "response_mode": "form_post"}),
		spa(map[string]string{"redirect_uri": "http://127.0.0.1:1/cb?"}),
		base(map[string]string{"claims": `{"id_token":{"acr":{"essential":true,"values":["mfa"]}},"userinfo":{"email":null}}`}),
	}
	for _, s := range seeds {
		f.Add(s.Encode())
	}
	f.Add("client_id=web&client_id=web")
	f.Add(base(nil).Encode() + "&resource=https%3A%2F%2Fapi.example%2F&resource=urn%3Aexample%3Aapi&resource=https%3A%2F%2Fapi.example%2F")
	f.Add("client_id=spa&redirect_uri=http%3A%2F%2F%5B%3A%3A1%5D%3A8%2Fcb")
	f.Add("")
	reg := testRegistry(f)
	f.Fuzz(func(t *testing.T, q string) {
		form, _ := url.ParseQuery(q) // keep what parsed; Parse must cope with anything
		req, client, err := Parse(form, reg, knownScope)
		if client == nil {
			var e *oauth2err.Error
			if err == nil || !errors.As(err, &e) || !e.NoRedirect {
				t.Fatalf("client is nil but error %v is redirectable", err)
			}
			return
		}
		if client != reg.Get(req.ClientID) {
			t.Fatalf("client %q does not belong to request %q", client.ID, req.ClientID)
		}
		if err != nil {
			var e *oauth2err.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *oauth2err.Error", err)
			}
			if !e.NoRedirect && !clients.MatchRedirectURI(client.RedirectURIs, req.RedirectURI) {
				t.Fatalf("redirectable error for unregistered redirect_uri %q", req.RedirectURI)
			}
			if len(req.State) > 4*maxStateLen {
				t.Fatalf("error echoes a %d-byte state", len(req.State))
			}
			return
		}
		if !clients.MatchRedirectURI(client.RedirectURIs, req.RedirectURI) {
			t.Fatalf("accepted unregistered redirect_uri %q", req.RedirectURI)
		}
		if m := req.CodeChallengeMethod; m != "" && m != "S256" {
			t.Fatalf("accepted code_challenge_method %q", m)
		}
		for _, r := range req.Resources {
			if !client.AllowsResource(r) {
				t.Fatalf("accepted resource %q the client may not have", r)
			}
		}
		if client.Public && req.CodeChallengeMethod != "S256" {
			t.Fatalf("public client without S256 PKCE accepted")
		}
		if req.ResponseType != "code" || len(req.Scopes) == 0 {
			t.Fatalf("accepted request %+v", req)
		}
		if req.ResponseMode != "query" && req.ResponseMode != "form_post" {
			t.Fatalf("accepted response_mode %q", req.ResponseMode)
		}
		if req.HasPrompt("none") && len(req.Prompt) > 1 {
			t.Fatalf("accepted prompt %q", req.Prompt)
		}
		if req.MaxAge < -1 {
			t.Fatalf("MaxAge = %d", req.MaxAge)
		}
		if (req.Claims != nil) != form.Has("claims") && form.Get("claims") != "" {
			t.Fatalf("claims parameter %q parsed as %+v", form.Get("claims"), req.Claims)
		}
	})
}

// TestParseResources: resource (RFC 8707 2.1) may repeat; each must be an absolute URI
// without a fragment that the client may ask for, else invalid_target, redirected.
func TestParseResources(t *testing.T) {
	reg := testRegistry(t)
	tests := []struct {
		name string
		res  []string
		want []string
		code oauth2err.Code
	}{
		{"none", nil, nil, ""},
		{"two, one repeated", []string{"https://api.example/", "urn:example:api", "https://api.example/"}, []string{"https://api.example/", "urn:example:api"}, ""},
		{"not allowed", []string{"https://other.example/"}, nil, oauth2err.InvalidTarget},
		{"prefix of an allowed one", []string{"https://api.example"}, nil, oauth2err.InvalidTarget},
		{"relative", []string{"/api"}, nil, oauth2err.InvalidTarget},
		{"fragment", []string{"https://api.example/#x"}, nil, oauth2err.InvalidTarget},
		{"too many", slices.Repeat([]string{"https://api.example/"}, maxResources+1), nil, oauth2err.InvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form := base(nil)
			if tc.res != nil {
				form["resource"] = tc.res
			}
			req, _, err := Parse(form, reg, knownScope)
			var e *oauth2err.Error
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("err %v", err)
			case tc.code != "" && (!errors.As(err, &e) || e.Code != tc.code || e.NoRedirect):
				t.Fatalf("err %v, want a redirectable %s", err, tc.code)
			case tc.code == "" && !slices.Equal(req.Resources, tc.want):
				t.Fatalf("resources %q, want %q", req.Resources, tc.want)
			}
		})
	}
}

// TestUILocales: ui_locales keeps its well-formed tags in order, canonicalized, at most
// eight; malformed, overlong or empty values are dropped, never an error (it is a hint).
func TestUILocales(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"de", "de"},
		{"fr-CA fr en", "fr-CA fr en"},
		{"EN-gb", "en-GB"},
		{"%%% ja <script>", "ja"},
		{"a b c d e f g h i j", ""}, // single letters are not language tags
		{"de fr es ja ar en it nl pt sv", "de fr es ja ar en it nl"},
		{strings.Repeat("x", 40) + " de", "de"},
		{"de\tfr\nja", "de fr ja"},
		{strings.Repeat("de ", 300), "de de de de de de de de"},
	} {
		if got := UILocales(tc.in); got != tc.want {
			t.Errorf("UILocales(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzUILocales: any ui_locales value reduces to at most eight space-separated tags that
// reduce to themselves, without panicking.
func FuzzUILocales(f *testing.F) {
	for _, s := range []string{"de", "fr-CA fr en", "%%% ja", "zh-Hant-TW x-private", "de-u-co-phonebk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := UILocales(in)
		if n := len(strings.Fields(got)); n > 8 {
			t.Fatalf("%d tags", n)
		}
		if again := UILocales(got); again != got {
			t.Fatalf("UILocales(%q) = %q, not stable: %q", in, got, again)
		}
	})
}
