package broker_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// lazyBody is a request body of n bytes ("a=aaaa...") that counts how much of it was read.
type lazyBody struct {
	n, read int64
}

func (b *lazyBody) Read(p []byte) (int, error) {
	if b.read >= b.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), b.n-b.read)
	for i := range p[:k] {
		p[i] = 'a'
		if b.read == 1 && i == 0 {
			p[i] = '='
		}
	}
	b.read += k
	return int(k), nil
}

// postRoutes are every POST route of a broker with the SAML IdP, the MFA pages and a
// connector named local.
var postRoutes = []string{
	"/authorize", "/login/local", "/callback/local", "/saml/sp/local/acs", "/consent", "/mfa", "/account",
	"/logout", "/token", "/userinfo", "/revoke", "/introspect", "/saml/idp/sso", "/saml/idp/slo",
}

// TestRequestBodiesBounded walks every POST route with an oversized, a multipart and an
// untyped body.
// Attack (issue 12.8): an unauthenticated 200 MiB multipart POST to /callback/{id} (or /login,
// /consent, /mfa, the SAML ACS) is spooled to disk by r.FormValue before any limit applies.
func TestRequestBodiesBounded(t *testing.T) {
	e := newSAMLEnv(t)
	h := e.srv.Config.Handler
	serve := func(path, ctype string, length int64, body io.Reader) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, e.issuer+path, body)
		req.ContentLength = length
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	const form = "application/x-www-form-urlencoded"
	for _, path := range postRoutes {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			// A declared 200 MiB body is refused before a byte of it is read.
			big := &lazyBody{n: 200 << 20}
			if rec := serve(path, form, big.n, big); rec.Code != http.StatusRequestEntityTooLarge || big.read != 0 {
				t.Errorf("declared 200 MiB body: status %d, %d bytes read; want 413 and nothing read", rec.Code, big.read)
			}
			// A chunked body (no declared length) is cut off at the route's limit.
			chunked := &lazyBody{n: 8 << 20}
			serve(path, form, -1, chunked)
			if chunked.read > 256<<10+64<<10 {
				t.Errorf("chunked 8 MiB body: %d bytes read; want at most the route's limit", chunked.read)
			}
			// Multipart is never parsed (net/http spools its files to disk).
			mp := "--x\r\nContent-Disposition: form-data; name=\"req\"\r\n\r\nabc\r\n--x--\r\n"
			if rec := serve(path, "multipart/form-data; boundary=x", int64(len(mp)), strings.NewReader(mp)); rec.Code != http.StatusUnsupportedMediaType {
				t.Errorf("multipart body: status %d, want 415", rec.Code)
			}
			// Issue 25.9: a form without a Content-Type is told what is wrong, not "expired".
			rec := serve(path, "", 7, strings.NewReader("req=abc"))
			if rec.Code != http.StatusUnsupportedMediaType || !strings.Contains(rec.Body.String(), "Content-Type") {
				t.Errorf("untyped body: status %d, want 415 naming the Content-Type:\n%s", rec.Code, rec.Body.String())
			}
		})
	}
}

// TestBodilessUserinfoPost: RFC 6750 clients POST to userinfo with the token in the header and
// no body; that is not refused for its missing Content-Type.
func TestBodilessUserinfoPost(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest(http.MethodPost, e.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("bodiless POST /userinfo: status %d, want 401 (token checked)", rec.Code)
	}
}

// revokeAs posts an RFC 7009 revocation as the client and returns the status and error code.
func revokeAs(t *testing.T, e *env, token, hint, id, secret string) (int, string) {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

// TestRevokeOtherClientsToken: revoking another client's token is refused with
// unauthorized_client, and the token keeps working.
// Attack (issue 25.9): a client revoking another client's token got a silent 200, so it
// could not tell that nothing was revoked (RFC 7009 2.1).
func TestRevokeOtherClientsToken(t *testing.T) {
	e := newEnv(t)
	code, verifier := e.codeFor(e.browser(), "openid offline_access")
	tok := e.exchangeCode(t, code, verifier)
	for _, tc := range []struct{ name, token, hint string }{
		{"refresh token", tok["refresh_token"].(string), ""},
		{"access token", tok["access_token"].(string), "access_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st, ec := revokeAs(t, e, tc.token, tc.hint, otherID, otherSecret); st != http.StatusBadRequest || ec != "unauthorized_client" {
				t.Errorf("revocation by another client: %d %q, want 400 unauthorized_client", st, ec)
			}
			if st := userinfoStatus(t, e, tok["access_token"].(string)); st != http.StatusOK {
				t.Errorf("the token stopped working after another client's revocation: %d", st)
			}
		})
	}
	// Unknown tokens still get 200 (RFC 7009 2.2), and the owner may revoke.
	if st, ec := revokeAs(t, e, "no-such-token", "", otherID, otherSecret); st != http.StatusOK {
		t.Errorf("unknown token: %d %q, want 200", st, ec)
	}
	if st, ec := revokeAs(t, e, tok["refresh_token"].(string), "", confidentialID, confidentialSecret); st != http.StatusOK {
		t.Errorf("owner's revocation: %d %q", st, ec)
	}
	if st := userinfoStatus(t, e, tok["access_token"].(string)); st != http.StatusUnauthorized {
		t.Errorf("after the owner revoked: %d", st)
	}
}
