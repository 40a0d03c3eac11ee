package brokertest

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Browser is a cookie-keeping HTTP client that never follows redirects by itself.
type Browser struct {
	T      testing.TB
	Client *http.Client
	// Issuer bounds Follow: redirects elsewhere are returned, not followed.
	Issuer string
}

// Browser returns a new browser (an empty cookie jar) for this server.
func (s *Server) Browser() *Browser {
	jar, _ := cookiejar.New(nil) //nolint:errcheck // cookiejar.New never fails without options
	return &Browser{T: s.T, Issuer: s.Issuer, Client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Page is one response as a browser sees it.
type Page struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

// Do sends req and reads the whole response; a transport error fails the test.
func (b *Browser) Do(req *http.Request) Page {
	b.T.Helper()
	resp, err := b.Client.Do(req)
	if err != nil {
		b.T.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body) //nolint:errcheck // a short body shows in the test's assertion
	return Page{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(body), Header: resp.Header}
}

// Get fetches u.
func (b *Browser) Get(u string) Page {
	b.T.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.T.Fatal(err)
	}
	return b.Do(req)
}

// Post submits form to u as application/x-www-form-urlencoded.
func (b *Browser) Post(u string, form url.Values) Page {
	b.T.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.Do(req)
}

// Follow follows redirects within the issuer (at most ten) until a page, or a redirect
// elsewhere; it returns the last page and its URL (or the URL redirected to).
func (b *Browser) Follow(p Page, base string) (Page, string) {
	b.T.Helper()
	for i := 0; i < 10 && p.Status >= 300 && p.Status < 400; i++ {
		u, err := url.Parse(base)
		if err != nil {
			b.T.Fatal(err)
		}
		next, err := u.Parse(p.Location)
		if err != nil {
			b.T.Fatal(err)
		}
		if !strings.HasPrefix(next.String(), b.Issuer) {
			return p, next.String()
		}
		base = next.String()
		p = b.Get(base)
	}
	return p, base
}

var (
	formRe   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// Form extracts the first POST form's action and hidden fields; no form fails the test.
func Form(t testing.TB, body string) (string, url.Values) {
	t.Helper()
	m := formRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form in page:\n%s", body)
	}
	vals := url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
		vals.Set(h[1], html.UnescapeString(h[2]))
	}
	return html.UnescapeString(m[1]), vals
}

// PKCE returns verifier and its S256 challenge.
func PKCE(verifier string) (string, string) {
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// Login drives an authorization request through the password form (as username) and consent
// (allowed or denied) and returns the final redirect URL (to the client).
func (s *Server) Login(b *Browser, authURL, username, password string, consent bool) string {
	s.T.Helper()
	p, at := b.Follow(b.Get(authURL), authURL)
	if strings.Contains(p.Body, `name="password"`) {
		action, vals := Form(s.T, p.Body)
		vals.Set("username", username)
		vals.Set("password", password)
		p, at = b.Follow(b.Post(s.Issuer+action, vals), s.Issuer+action)
	}
	if p.Status >= 300 && p.Status < 400 {
		return at
	}
	if !strings.Contains(p.Body, `value="allow"`) {
		s.T.Fatalf("expected consent page, got %d:\n%s", p.Status, p.Body)
	}
	action, vals := Form(s.T, p.Body)
	if consent {
		vals.Set("decision", "allow")
	} else {
		vals.Set("decision", "deny")
	}
	p, at = b.Follow(b.Post(s.Issuer+action, vals), s.Issuer+action)
	if p.Status < 300 || p.Status >= 400 {
		s.T.Fatalf("expected redirect to the client after consent, got %d:\n%s", p.Status, p.Body)
	}
	return at
}
