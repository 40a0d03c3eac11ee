package pages

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// LanguageCookie names the cookie of the language switcher: the tag the user chose, no secret.
const LanguageCookie = "gh_lang"

// LanguageLink is one entry of the language switcher.
type LanguageLink struct {
	Tag, Name, URL string
	// Current marks the language the page is shown in.
	Current bool
}

type uiLocalesKey struct{}

// WithUILocales returns a context carrying the ui_locales of the auth request a page belongs
// to (OIDC Core 3.1.2.1: space-separated BCP 47 tags, preferred first).
func WithUILocales(ctx context.Context, uiLocales string) context.Context {
	if uiLocales == "" {
		return ctx
	}
	return context.WithValue(ctx, uiLocalesKey{}, uiLocales)
}

// Language returns the tag of the language to render r's page in: the language switcher's
// cookie (the user's explicit choice), then the auth request's ui_locales, then the
// browser's Accept-Language, then the default language.
func (p *Renderer) Language(r *http.Request) string {
	if c, err := r.Cookie(LanguageCookie); err == nil {
		if l, ok := p.Templates.Lookup(c.Value); ok {
			return l.Tag
		}
	}
	ui, _ := r.Context().Value(uiLocalesKey{}).(string)
	prefs := append(strings.Fields(ui), r.Header.Get("Accept-Language"))
	return p.Templates.Match(prefs...).Tag
}

// languageLinks returns the language switcher of r's page shown in lang: each link sets the
// cookie through /language and comes back to this page.
func (p *Renderer) languageLinks(r *http.Request, lang string) []LanguageLink {
	langs := p.Templates.Languages()
	if len(langs) < 2 || r.Method != http.MethodGet {
		return nil
	}
	back := r.URL.RequestURI()
	out := make([]LanguageLink, 0, len(langs))
	for _, l := range langs {
		q := url.Values{"set": {l.Tag}, "back": {back}}
		out = append(out, LanguageLink{Tag: l.Tag, Name: l.Name, URL: p.Rel("/language?" + q.Encode()), Current: l.Tag == lang})
	}
	return out
}

var pageType = reflect.TypeFor[Page]()

// WithLanguages returns data with the language switcher of r's page shown in lang set in its
// Page (for a flow that renders through web.Templates itself).
func (p *Renderer) WithLanguages(r *http.Request, lang string, data any) any {
	return withLanguages(data, p.languageLinks(r, lang))
}

// withLanguages returns data with the language switcher set in its Page (data is a Page or a
// struct embedding one; anything else comes back unchanged).
func withLanguages(data any, links []LanguageLink) any {
	if links == nil || data == nil {
		return data
	}
	if pg, ok := data.(Page); ok {
		pg.Languages = links
		return pg
	}
	v := reflect.ValueOf(data)
	if v.Kind() != reflect.Struct {
		return data
	}
	f, ok := v.Type().FieldByName("Page")
	if !ok || f.Type != pageType || len(f.Index) != 1 || !f.Anonymous {
		return data
	}
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	pg := c.Field(f.Index[0]).Interface().(Page)
	pg.Languages = links
	c.Field(f.Index[0]).Set(reflect.ValueOf(pg))
	return c.Interface()
}

// SafeBack reports whether back is a path on this server under base that a redirect may go
// to: an absolute path, not a scheme-relative or backslash URL that a browser would take to
// another host.
func SafeBack(base, back string) bool {
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n\t") {
		return false
	}
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return false
	}
	return base == "" || u.Path == base || strings.HasPrefix(u.Path, base+"/")
}

// SetLanguage is the language switcher: GET /language?set=<tag>&back=<path> stores the
// chosen tag (a supported one only) in a cookie and returns to back, a path under the issuer;
// a wrong tag or back is a 400 page, never a redirect elsewhere.
func (p *Renderer) SetLanguage(w http.ResponseWriter, r *http.Request) {
	l, ok := p.Templates.Lookup(r.URL.Query().Get("set"))
	back := r.URL.Query().Get("back")
	if !ok || !SafeBack(p.Base, back) {
		p.Error(w, r, http.StatusBadRequest, "error.language.heading", "error.language.message", "error.language.hint")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: LanguageCookie, Value: l.Tag, Path: p.Base + "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// NotFound wraps the route mux: a request no route matches gets the 404 page in the house
// style instead of Go's plain text (a method a route does not take keeps its 405).
func (p *Renderer) NotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&notFoundWriter{ResponseWriter: w, r: r, p: p}, r)
	})
}

// notFoundWriter replaces a 404 written by the mux with the 404 page and drops its body.
type notFoundWriter struct {
	http.ResponseWriter
	r        *http.Request
	p        *Renderer
	replaced bool
}

// WriteHeader renders the 404 page in place of a 404 status; other statuses pass through.
func (n *notFoundWriter) WriteHeader(status int) {
	if status != http.StatusNotFound || n.replaced {
		n.ResponseWriter.WriteHeader(status)
		return
	}
	n.replaced = true
	h := n.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	n.p.Error(n.ResponseWriter, n.r, http.StatusNotFound, "error.notfound.heading", "error.notfound.message", "error.notfound.hint")
}

// Write drops the mux's plain-text body once the page was rendered.
func (n *notFoundWriter) Write(b []byte) (int, error) {
	if n.replaced {
		return len(b), nil
	}
	return n.ResponseWriter.Write(b)
}
