package pages

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/web"
)

func newRenderer(t *testing.T, base string) *Renderer {
	t.Helper()
	tm, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	return &Renderer{Templates: tm, Logger: slog.New(slog.DiscardHandler), Base: base}
}

// TestLanguageOrder: the switcher's cookie beats ui_locales, which beats Accept-Language;
// unsupported values fall through to the next source, then to English.
func TestLanguageOrder(t *testing.T) {
	p := newRenderer(t, "")
	for _, tc := range []struct {
		name, cookie, ui, accept, want string
	}{
		{"nothing", "", "", "", "en"},
		{"accept-language", "", "", "de-DE,de;q=0.9", "de"},
		{"ui_locales beats accept-language", "", "ja fr", "de", "ja"},
		{"unsupported ui_locales falls through", "", "sv", "es", "es"},
		{"cookie beats all", "ar", "ja", "de", "ar"},
		{"unsupported cookie is ignored", "de-AT", "", "fr", "fr"},
		{"garbage cookie is ignored", "<script>", "", "", "en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/login?req=1", nil)
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: LanguageCookie, Value: url.QueryEscape(tc.cookie)})
			}
			if tc.accept != "" {
				r.Header.Set("Accept-Language", tc.accept)
			}
			r = r.WithContext(WithUILocales(r.Context(), tc.ui))
			if got := p.Language(r); got != tc.want {
				t.Errorf("Language = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestSetLanguage: the switcher sets a cookie for a supported tag and returns to a path
// under the issuer only; anything else is a 400 page without a cookie or a redirect.
func TestSetLanguage(t *testing.T) {
	p := newRenderer(t, "/gh")
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"set=de&back=/gh/login%3Freq%3D1", http.StatusSeeOther},
		{"set=ar&back=/gh", http.StatusSeeOther},
		{"set=xx&back=/gh/login", http.StatusBadRequest},
		{"set=de-AT&back=/gh/login", http.StatusBadRequest},
		{"set=de&back=https://evil.example/", http.StatusBadRequest},
		{"set=de&back=//evil.example/gh/", http.StatusBadRequest},
		{"set=de&back=/\\evil.example", http.StatusBadRequest},
		{"set=de&back=/other/path", http.StatusBadRequest},
		{"set=de&back=/ghost", http.StatusBadRequest},
		{"set=de&back=", http.StatusBadRequest},
		{"set=de&back=/gh/x%0d%0aSet-Cookie:a=b", http.StatusBadRequest},
	} {
		rec := httptest.NewRecorder()
		p.SetLanguage(rec, httptest.NewRequest("GET", "/gh/language?"+tc.query, nil))
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.query, rec.Code, tc.status)
			continue
		}
		cookie := rec.Result().Cookies()
		if tc.status != http.StatusSeeOther {
			if len(cookie) != 0 || rec.Header().Get("Location") != "" {
				t.Errorf("%s: refused but set %v / Location %q", tc.query, cookie, rec.Header().Get("Location"))
			}
			continue
		}
		q, _ := url.ParseQuery(tc.query)
		if len(cookie) != 1 || cookie[0].Name != LanguageCookie || cookie[0].Value != q.Get("set") ||
			!cookie[0].HttpOnly || cookie[0].SameSite != http.SameSiteLaxMode || cookie[0].Path != "/gh/" {
			t.Errorf("%s: cookie %+v", tc.query, cookie)
		}
		if loc := rec.Header().Get("Location"); loc != q.Get("back") {
			t.Errorf("%s: Location %q", tc.query, loc)
		}
	}
}

// TestRenderSwitcherAndLanguage: a page embedding Page renders in the request's language
// with a switcher linking each language back to the page.
func TestRenderSwitcherAndLanguage(t *testing.T) {
	p := newRenderer(t, "")
	type data struct {
		Page
		Heading, Message, Hint, RequestID string
		Args                              map[string]any
	}
	r := httptest.NewRequest("GET", "/somewhere?x=1", nil)
	r.Header.Set("Accept-Language", "ar")
	rec := httptest.NewRecorder()
	p.Render(rec, r, http.StatusOK, "error.html", data{Page: p.Page("error.expired.heading"), Heading: "This sign-in link has expired",
		Message: "fwd.denied", Args: map[string]any{"Reason": "<b>x</b>"}})
	body := rec.Body.String()
	for _, want := range []string{`<html lang="ar" dir="rtl">`, "انتهت صلاحية رابط تسجيل الدخول هذا", `<nav class="languages"`,
		`href="/language?back=%2Fsomewhere%3Fx%3D1&amp;set=de" hreflang="de" lang="de">Deutsch</a>`, `<span aria-current="true" lang="ar">العربية</span>`, "لقد سجّلت الدخول، لكن &lt;b&gt;x&lt;/b&gt;."} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "sign-in link") {
		t.Error("English left on the Arabic page")
	}
}

// TestNotFoundPage: an unknown path gets the 404 page in the house style and the request's
// language; a known path and a wrong method (405) are untouched.
func TestNotFoundPage(t *testing.T) {
	p := newRenderer(t, "")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "token") })
	mux.HandleFunc("GET /gone", http.NotFound) // a handler's own 404 is its own
	h := p.NotFound(mux)
	for _, tc := range []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/nope", 404, "Seite nicht gefunden"},
		{"POST", "/nope/deeper", 404, "Seite nicht gefunden"},
		{"GET", "/token", 405, "Method Not Allowed"},
		{"POST", "/token", 200, "token"},
		{"GET", "/gone", 404, "404 page not found"},
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(tc.method, tc.path, nil)
		r.Header.Set("Accept-Language", "de")
		h.ServeHTTP(rec, r)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.path, rec.Code, rec.Body.String(), tc.status, tc.want)
		}
		if tc.want == "Seite nicht gefunden" && (rec.Header().Get("Content-Security-Policy") != CSP || !strings.Contains(rec.Header().Get("Content-Type"), "text/html")) {
			t.Errorf("%s: headers %v", tc.path, rec.Header())
		}
	}
}
