// Package pages renders the HTML pages every broker flow shares: the error pages (with the
// request ID a user can quote), the auto-submitting form POST page (OAuth 2.0 form_post, SAML
// POST binding), and the security headers of browser routes. Flow packages render their own
// templates through Renderer.Render, so a theme override (web.Load) applies to all of them.
package pages

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/web"
)

// CSP is the Content-Security-Policy of every HTML page Gatehouse renders.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"

// FactorCSP is the Content-Security-Policy of the second-factor pages (the MFA step and the
// account page): the QR code is a data: URL and the WebAuthn helper is a same-origin script.
const FactorCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"

// Page is the data every template gets: embed it in a template's data struct.
type Page struct {
	Title string
	Base  string
	// Languages is the language switcher, set by Render (nil: none shown).
	Languages []LanguageLink
}

// Renderer renders pages under one issuer path.
type Renderer struct {
	Templates *web.Templates
	Logger    *slog.Logger
	// Base is the issuer's path without a trailing slash ("" at the root).
	Base string
	// Ping reaches the storage backend; when it fails, an internal error is shown as
	// "temporarily unavailable" (503) rather than "something went wrong". Nil: never.
	Ping func(context.Context) error
}

// Page returns the common template data of a page with the title.
func (p *Renderer) Page(title string) Page { return Page{Title: title, Base: p.Base} }

// Rel returns a path under the issuer's path (for links and redirects to our own pages).
func (p *Renderer) Rel(path string) string { return p.Base + path }

// Render renders the template with the status; a failure is logged (the status line has
// gone out already, so there is nothing better to do).
// The page is in the language Language chooses, with the language switcher when data is a
// Page or embeds one.
func (p *Renderer) Render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	lang := p.Language(r)
	if err := p.Templates.RenderLang(w, status, lang, name, p.WithLanguages(r, lang, data)); err != nil {
		p.Logger.ErrorContext(r.Context(), "render page", "template", name, "err", err)
	}
}

type errorData struct {
	Page
	Heading, Message, Hint, RequestID string
	// Args fill the {{.Field}} placeholders of Message's catalog entry.
	Args map[string]any
}

// Error renders a user-facing error: what went wrong and what to do, never internals, with
// the request ID as a reference the user can quote (it is in every log line of the request).
// Each text is a message ID of the catalogs or an English text, translated when a catalog
// knows it (web.Templates.Translate).
func (p *Renderer) Error(w http.ResponseWriter, r *http.Request, status int, heading, message, hint string) {
	p.ErrorArgs(w, r, status, heading, message, hint, nil)
}

// ErrorArgs is Error with a message whose catalog entry has placeholders ({{.Reason}}),
// filled from args (user-safe values only: they are shown as they are).
func (p *Renderer) ErrorArgs(w http.ResponseWriter, r *http.Request, status int, heading, message, hint string, args map[string]any) {
	d := errorData{Page: p.Page(heading), Heading: heading, Message: message, Hint: hint,
		RequestID: logctx.RequestID(r.Context()), Args: args}
	p.Render(w, r, status, "error.html", d)
}

// StorageDown reports whether the storage backend is unreachable right now (a short ping).
func (p *Renderer) StorageDown(ctx context.Context) bool {
	if p.Ping == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	return p.Ping(ctx) != nil
}

// Internal logs the cause and shows a generic page (503 "temporarily unavailable" when the
// storage backend is down).
func (p *Renderer) Internal(w http.ResponseWriter, r *http.Request, msg string, err error) {
	p.Logger.ErrorContext(r.Context(), msg, "err", err, "path", r.URL.Path)
	if p.StorageDown(r.Context()) {
		w.Header().Set("Retry-After", "5")
		p.Error(w, r, http.StatusServiceUnavailable, "error.unavailable.heading", "error.unavailable.message", "error.unavailable.hint")
		return
	}
	p.Error(w, r, http.StatusInternalServerError, "error.internal.heading", "error.internal.message", "error.internal.hint")
}

// Expired is the page for an unknown or expired auth request.
func (p *Renderer) Expired(w http.ResponseWriter, r *http.Request) {
	p.Error(w, r, http.StatusBadRequest, "error.expired.heading", "error.expired.message", "error.expired.hint")
}

// AlreadyFinished is the page of a second submission of a flow step that may happen once.
func (p *Renderer) AlreadyFinished(w http.ResponseWriter, r *http.Request) {
	p.Error(w, r, http.StatusConflict, "error.finished.heading", "error.finished.message", "error.finished.hint")
}

type formPostData struct {
	Action string
	Fields map[string]string
	Nonce  string
}

// FormPost renders the auto-submitting form that POSTs params to action (OAuth 2.0 Form Post
// Response Mode, SAML HTTP-POST binding, a redirect connector's POST step).
func (p *Renderer) FormPost(w http.ResponseWriter, r *http.Request, action string, params url.Values) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	nonce := base64.RawStdEncoding.EncodeToString(b[:])
	fields := make(map[string]string, len(params))
	for k := range params {
		fields[k] = params.Get(k)
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("Cache-Control", "no-store")
	p.Render(w, r, http.StatusOK, "form_post.html", formPostData{Action: action, Fields: fields, Nonce: nonce})
}

// Headers sets the security headers of HTML pages.
func Headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// BrowserRoute wraps a browser-facing route: security headers and cross-origin protection
// (non-safe requests from another origin are refused; forms also carry a CSRF token).
func (p *Renderer) BrowserRoute(h http.HandlerFunc) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Error(w, r, http.StatusForbidden, "error.refused.heading", "error.refused.message", "error.refused.hint")
	}))
	return Headers(cop.Handler(h))
}
