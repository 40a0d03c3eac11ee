package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// maxBody bounds every response body the generator reads.
const maxBody = 1 << 20

// maxSteps bounds the redirects and pages of one login.
const maxSteps = 16

// Tokens is what a token response carried.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
}

// metadata is the part of the provider metadata the generator uses.
type metadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	UserinfoEndpoint      string `json:"userinfo_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

func randomString() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// readBody reads and closes a response body, bounded.
func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read %s response: %w", resp.Request.URL.Path, err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("%s response is larger than %d bytes", resp.Request.URL.Path, maxBody)
	}
	return b, nil
}

// drain discards and closes a body so the connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody)) //nolint:errcheck // draining to reuse the connection; a short read only costs the reuse
	resp.Body.Close()
}

// htmlForm is a form found in a page.
type htmlForm struct {
	action string
	fields url.Values // hidden inputs
	inputs map[string]bool
	// buttons maps a submit button's name to its values.
	buttons map[string][]string
}

var (
	formRe   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form\s*>`)
	inputRe  = regexp.MustCompile(`(?is)<(input|button)\b([^>]*)>`)
	attrRe   = regexp.MustCompile(`(?is)([a-z_:][-a-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))`)
	alertRe  = regexp.MustCompile(`(?is)role="alert"[^>]*>([^<]*)<`)
	anchorRe = regexp.MustCompile(`(?is)<a\b[^>]*\bhref\s*=\s*"([^"]*)"`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(s, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2] + a[3] + a[4])
	}
	return m
}

// parseForms returns the POST forms of a page.
func parseForms(body string) []htmlForm {
	var out []htmlForm
	for _, m := range formRe.FindAllStringSubmatch(body, -1) {
		fa := attrs(m[1])
		if !strings.EqualFold(fa["method"], "post") {
			continue
		}
		f := htmlForm{action: fa["action"], fields: url.Values{}, inputs: map[string]bool{}, buttons: map[string][]string{}}
		for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
			a := attrs(in[2])
			name := a["name"]
			if name == "" {
				continue
			}
			typ := strings.ToLower(a["type"])
			switch {
			case strings.EqualFold(in[1], "button") && (typ == "" || typ == "submit"):
				f.buttons[name] = append(f.buttons[name], a["value"])
			case typ == "hidden":
				f.fields.Set(name, a["value"])
			default:
				f.inputs[name] = true
			}
		}
		out = append(out, f)
	}
	return out
}

// flowError is a login that did not end with a code.
type flowError struct {
	step string
	msg  string
}

func (e *flowError) Error() string { return "login: " + e.step + ": " + e.msg }

// login runs one browser code flow with PKCE in a fresh cookie jar and redeems the code. It
// follows redirects within the issuer, submits the password form, allows consent when asked,
// and captures the redirect back to the client.
func (g *Generator) login(ctx context.Context, scope string) (Tokens, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return Tokens{}, err
	}
	hc := &http.Client{Transport: g.transport, Jar: jar, Timeout: g.cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := randomString()
	sum := sha256.Sum256([]byte(verifier))
	state, nonce := randomString()[:22], randomString()[:22]
	q := url.Values{
		"response_type": {"code"}, "client_id": {g.cfg.ClientID}, "redirect_uri": {g.cfg.RedirectURI},
		"scope": {scope}, "state": {state}, "nonce": {nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	authURL := g.meta.AuthorizationEndpoint
	if strings.Contains(authURL, "?") {
		authURL += "&" + q.Encode()
	} else {
		authURL += "?" + q.Encode()
	}
	cur, err := url.Parse(authURL)
	if err != nil {
		return Tokens{}, fmt.Errorf("authorization endpoint: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return Tokens{}, err
	}
	var callback *url.URL
	submitted := map[string]bool{}
	for step := 0; callback == nil; step++ {
		if step >= maxSteps {
			return Tokens{}, &flowError{"authorize", fmt.Sprintf("no redirect to the client after %d steps", maxSteps)}
		}
		resp, err := hc.Do(req)
		if err != nil {
			return Tokens{}, fmt.Errorf("login: %w", err)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			drain(resp)
			next, err := cur.Parse(resp.Header.Get("Location"))
			if err != nil {
				return Tokens{}, &flowError{cur.Path, "bad Location: " + err.Error()}
			}
			if g.isRedirectURI(next) {
				callback = next
				break
			}
			if next.Scheme != g.issuerURL.Scheme || next.Host != g.issuerURL.Host {
				return Tokens{}, &flowError{cur.Path, "redirect away from the issuer to " + next.Redacted()}
			}
			cur = next
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, cur.String(), nil); err != nil {
				return Tokens{}, err
			}
			continue
		}
		body, err := readBody(resp)
		if err != nil {
			return Tokens{}, err
		}
		if resp.StatusCode != http.StatusOK {
			if msg := alertRe.FindSubmatch(body); msg != nil {
				return Tokens{}, &flowError{cur.Path, fmt.Sprintf("status %d: %s", resp.StatusCode, html.UnescapeString(string(msg[1])))}
			}
			return Tokens{}, &flowError{cur.Path, fmt.Sprintf("status %d: %s", resp.StatusCode, snippet(body))}
		}
		if req, err = g.nextStep(ctx, cur, string(body), submitted); err != nil {
			return Tokens{}, err
		}
		cur = req.URL
	}
	cb := callback.Query()
	if e := cb.Get("error"); e != "" {
		return Tokens{}, &flowError{"callback", e + ": " + cb.Get("error_description")}
	}
	if cb.Get("state") != state {
		return Tokens{}, &flowError{"callback", "state does not match"}
	}
	code := cb.Get("code")
	if code == "" {
		return Tokens{}, &flowError{"callback", "no code in " + callback.Redacted()}
	}
	return g.token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {g.cfg.RedirectURI}, "code_verifier": {verifier}})
}

// nextStep decides what a browser does on a page of the login flow.
func (g *Generator) nextStep(ctx context.Context, cur *url.URL, body string, submitted map[string]bool) (*http.Request, error) {
	for _, f := range parseForms(body) {
		vals := f.fields
		switch {
		case f.inputs["password"]:
			if submitted["password"] {
				return nil, &flowError{cur.Path, "the login form came back (wrong username or password?): " + snippet([]byte(body))}
			}
			submitted["password"] = true
			vals.Set("username", g.cfg.Username)
			vals.Set("password", g.cfg.Password)
		case len(f.buttons["decision"]) > 0:
			if submitted["consent"] {
				return nil, &flowError{cur.Path, "the consent form came back"}
			}
			submitted["consent"] = true
			vals.Set("decision", "allow")
		default:
			continue
		}
		action, err := cur.Parse(f.action)
		if err != nil {
			return nil, &flowError{cur.Path, "bad form action: " + err.Error()}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(vals.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req, nil
	}
	// A connector chooser: take the first link to a login page.
	for _, m := range anchorRe.FindAllStringSubmatch(body, -1) {
		href := html.UnescapeString(m[1])
		if !strings.Contains(href, "/login/") || submitted["chooser"] {
			continue
		}
		submitted["chooser"] = true
		next, err := cur.Parse(href)
		if err != nil {
			continue
		}
		return http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
	}
	return nil, &flowError{cur.Path, "unexpected page (no login form, consent form or connector link): " + snippet([]byte(body))}
}

func (g *Generator) isRedirectURI(u *url.URL) bool {
	r := g.redirectURL
	return u.Scheme == r.Scheme && u.Host == r.Host && u.Path == r.Path
}

// token posts a grant to the token endpoint with client_secret_basic.
func (g *Generator) token(ctx context.Context, form url.Values) (Tokens, error) {
	if g.cfg.ClientSecret == "" {
		form.Set("client_id", g.cfg.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.meta.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Tokens{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	g.clientAuth(req)
	resp, err := g.client.Do(req)
	if err != nil {
		return Tokens{}, fmt.Errorf("token: %w", err)
	}
	body, err := readBody(resp)
	if err != nil {
		return Tokens{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Tokens{}, fmt.Errorf("token (%s): status %d: %s", form.Get("grant_type"), resp.StatusCode, snippet(body))
	}
	var t Tokens
	if err := json.Unmarshal(body, &t); err != nil {
		return Tokens{}, fmt.Errorf("token: %w", err)
	}
	if t.AccessToken == "" {
		return Tokens{}, fmt.Errorf("token: no access_token in the response")
	}
	return t, nil
}

// clientAuth adds client_secret_basic credentials (RFC 6749 2.3.1: form-encoded first) for a
// confidential client.
func (g *Generator) clientAuth(req *http.Request) {
	if g.cfg.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(g.cfg.ClientID), url.QueryEscape(g.cfg.ClientSecret))
	}
}

// snippet shortens a body for an error message.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
