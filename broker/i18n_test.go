package broker_test

import (
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// acceptLanguage adds an Accept-Language header to every request, as a browser does.
type acceptLanguage struct {
	lang string
	next http.RoundTripper
}

func (a acceptLanguage) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept-Language", a.lang)
	return a.next.RoundTrip(r)
}

var htmlLangRe = regexp.MustCompile(`<html lang="([^"]+)" dir="([^"]+)">`)

// TestPagesInTheUsersLanguage: the sign-in page is in the language of the switcher's cookie,
// else of the request's ui_locales, else of Accept-Language, else English; Arabic is
// right-to-left; the switcher's link sets the cookie and comes back to the page.
func TestPagesInTheUsersLanguage(t *testing.T) {
	e := newEnv(t)
	r := e.rp(confidentialID, confidentialSecret, redirectURI, oidc.ScopeOpenID)
	open := func(b *browser, uiLocales string) page {
		t.Helper()
		opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}
		if uiLocales != "" {
			opts = append(opts, oauth2.SetAuthURLParam("ui_locales", uiLocales))
		}
		p, _ := b.follow(e, b.get(r.oauth.AuthCodeURL("st", opts...)), e.issuer)
		if p.status != http.StatusOK {
			t.Fatalf("sign-in page: %d %s", p.status, p.body)
		}
		return p
	}
	for _, tc := range []struct {
		name, accept, ui, lang, dir, text string
	}{
		{"default", "", "", "en", "ltr", "Password"},
		{"accept-language", "de-CH,de;q=0.9,en;q=0.5", "", "de", "ltr", "Passwort"},
		{"ui_locales beats accept-language", "de", "ar-EG fr", "ar", "rtl", "كلمة المرور"},
		{"malformed ui_locales skipped", "es", "%%% ja", "ja", "ltr", "パスワード"},
		{"unsupported everything", "sv", "fi", "en", "ltr", "Password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			if tc.accept != "" {
				b.c.Transport = acceptLanguage{tc.accept, http.DefaultTransport}
			}
			p := open(b, tc.ui)
			m := htmlLangRe.FindStringSubmatch(p.body)
			if m == nil || m[1] != tc.lang || m[2] != tc.dir || !strings.Contains(p.body, tc.text) {
				t.Fatalf("page lang %v, want %s %s with %q:\n%s", m, tc.lang, tc.dir, tc.text, p.body)
			}
			if got := p.header.Get("Content-Language"); got != tc.lang {
				t.Errorf("Content-Language %q", got)
			}
		})
	}

	t.Run("the switcher's cookie beats ui_locales", func(t *testing.T) {
		b := e.browser()
		p := open(b, "ja")
		link := regexp.MustCompile(`<a href="([^"]+)" hreflang="fr"`).FindStringSubmatch(p.body)
		if link == nil {
			t.Fatalf("no switcher link to fr:\n%s", p.body)
		}
		sw := b.get(e.issuer + strings.TrimPrefix(html.UnescapeString(link[1]), pathOf(e.issuer)))
		if sw.status != http.StatusSeeOther || !strings.Contains(sw.header.Get("Set-Cookie"), "gh_lang=fr") {
			t.Fatalf("switcher: %d %v", sw.status, sw.header)
		}
		back, _ := b.follow(e, sw, e.issuer)
		if m := htmlLangRe.FindStringSubmatch(back.body); m == nil || m[1] != "fr" || !strings.Contains(back.body, "Mot de passe") {
			t.Fatalf("after switching: %v\n%s", m, back.body)
		}
		again := open(b, "ja")
		if m := htmlLangRe.FindStringSubmatch(again.body); m == nil || m[1] != "fr" {
			t.Fatalf("a new request with ui_locales=ja: %v", m)
		}
	})
}

// pathOf returns the path of an issuer URL ("" at the root).
func pathOf(issuer string) string {
	i := strings.Index(strings.TrimPrefix(strings.TrimPrefix(issuer, "https://"), "http://"), "/")
	if i < 0 {
		return ""
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(issuer, "https://"), "http://")
	return rest[i:]
}

// TestNotFoundFaviconAndDiscovery: an unknown path is the 404 page in the house style (in
// the browser's language), the favicon is served, and discovery lists the pages' languages.
func TestNotFoundFaviconAndDiscovery(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.c.Transport = acceptLanguage{"es", http.DefaultTransport}
	nf := b.get(e.issuer + "/no/such/page")
	if nf.status != http.StatusNotFound || !strings.Contains(nf.body, "Página no encontrada") ||
		!strings.Contains(nf.body, `/static/style.css`) || nf.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("404: %d %v\n%s", nf.status, nf.header, nf.body)
	}
	if m := b.get(e.issuer + "/token"); m.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /token: %d, want 405 untouched", m.status)
	}
	ico := b.get(e.issuer + "/static/favicon.svg")
	if ico.status != http.StatusOK || !strings.HasPrefix(ico.header.Get("Content-Type"), "image/svg+xml") || !strings.Contains(ico.body, "<svg") {
		t.Errorf("favicon: %d %v", ico.status, ico.header)
	}
	if fi := b.get(e.issuer + "/favicon.ico"); fi.status != http.StatusMovedPermanently || !strings.HasSuffix(fi.location, "/static/favicon.svg") {
		t.Errorf("/favicon.ico: %d %q", fi.status, fi.location)
	}
	var doc struct {
		UILocales []string `json:"ui_locales_supported"`
	}
	d := b.get(e.issuer + "/.well-known/openid-configuration")
	if err := json.Unmarshal([]byte(d.body), &doc); err != nil {
		t.Fatal(err)
	}
	if strings.Join(doc.UILocales, " ") != "en ar de es fr ja" {
		t.Errorf("ui_locales_supported %v", doc.UILocales)
	}
}
