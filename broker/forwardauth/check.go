package forwardauth

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// handleCheck answers a proxy's question about one request: 200 with identity headers, 401
// (/forward-auth/nginx) or a redirect to the login (the others) when the browser is not signed
// in or lacks a second factor the app needs, 403 with a page when the user may not use the
// app or path, 403 for a host no app is on and for a peer that is not a trusted proxy.
func (h *Handler) handleCheck(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !httpx.FromTrustedProxy(r, h.TrustedProxies) {
		h.Logger.WarnContext(r.Context(), "forward-auth asked by a peer that is not a trusted proxy", "peer", r.RemoteAddr)
		http.Error(w, "forward-auth answers only the proxies in web.trusted_proxies", http.StatusForbidden)
		return
	}
	envoyPrefix := h.Pages.Rel("/forward-auth/envoy")
	envoyURI := ""
	if rest, ok := strings.CutPrefix(r.URL.RequestURI(), envoyPrefix); ok && strings.HasPrefix(r.URL.Path, envoyPrefix+"/") {
		envoyURI = rest
	}
	orig, err := ParseOriginal(r, envoyURI)
	if err != nil {
		h.Logger.WarnContext(r.Context(), "forward-auth: no usable original URL", "err", err)
		http.Error(w, "the proxy did not say which URL it asks about", http.StatusBadRequest)
		return
	}
	app, err := h.app(orig.URL)
	if err != nil {
		h.Logger.WarnContext(r.Context(), "forward-auth: host of no protected app", "host", orig.URL.Host)
		h.refused(r.Context(), audit.Event{Outcome: audit.OutcomeUnknownHost,
			Detail: map[string]string{"host": orig.URL.Host, "path": orig.Path}})
		h.Pages.Error(w, r, http.StatusForbidden, "Unknown application",
			"This address is not one of the applications Gatehouse protects.", "Check the address, or ask your administrator.")
		return
	}
	if app.bypassed(orig.Path) {
		app.clearIdentity(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	sess, ok, err := h.lookup(r)
	if err != nil {
		h.Pages.Internal(w, r, "forward-auth session", err)
		return
	}
	if !ok || h.MFANeeded(ClientID(app.ID), sess.Auth) {
		h.unauthenticated(w, r, orig)
		return
	}
	if err := h.Authz.AuthorizeApp(app.ID, orig.Path, sess.Identity); err != nil {
		var denied *connectors.DeniedError
		if !errors.As(err, &denied) {
			h.Pages.Internal(w, r, "forward-auth requirements", err)
			return
		}
		h.Logger.InfoContext(r.Context(), "forward-auth denied", "app", app.ID, "sub", sess.Identity.Subject, "reason", denied.Reason)
		h.refused(r.Context(), audit.Event{Outcome: audit.OutcomeDenied, User: sess.Identity.Subject, ConnectorID: sess.Auth.ConnectorID,
			ClientID: ClientID(app.ID), Detail: map[string]string{"app": app.ID, "host": orig.URL.Host, "path": orig.Path, "reason": denied.Reason}})
		h.Pages.ErrorArgs(w, r, http.StatusForbidden, "denied.heading", "fwd.denied", "fwd.ask", map[string]any{"Reason": denied.Reason})
		return
	}
	h.touch(r.Context(), sess)
	if err := h.allow(w, app, sess); err != nil {
		h.Pages.Internal(w, r, "forward-auth assertion", err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// unauthenticated answers a request without a usable session: 401 to nginx (whose
// error_page sends the browser to the login start), a redirect to the login start to the
// others (which relay it to the browser).
func (h *Handler) unauthenticated(w http.ResponseWriter, r *http.Request, orig Original) {
	if strings.HasSuffix(r.URL.Path, "/forward-auth/nginx") {
		// nginx's auth_request passes on only 2xx, 401 and 403: the login start goes in
		// Location for `auth_request_set $fa_login $upstream_http_location` and
		// `error_page 401 =302 $fa_login` (nginx cannot URL-encode the return URL itself).
		w.Header().Set("Location", h.StartURL(orig.URL.String()))
		http.Error(w, "sign-in required", http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, h.StartURL(orig.URL.String()), http.StatusFound)
}

// StartURL is the login start for a return URL.
func (h *Handler) StartURL(returnURL string) string {
	return strings.TrimSuffix(h.Issuer, "/") + "/forward-auth/start?rd=" + url.QueryEscape(returnURL)
}

// allow sets the identity headers (and the assertion) of an allowed request. Every header is
// sent, empty when there is nothing to say: Caddy 2.6's copy_headers passes a header the
// answer lacks on as its literal placeholder text, and a client's forged value is then
// replaced with an empty one by every proxy.
func (h *Handler) allow(w http.ResponseWriter, app *App, sess storage.Session) error {
	id := sess.Identity
	hd := w.Header()
	app.clearIdentity(hd)
	hd.Set(app.Headers.User, headerValue(id.Subject))
	hd.Set(app.Headers.Email, headerValue(id.Email))
	hd.Set(app.Headers.Groups, headerValue(strings.Join(id.Groups, ",")))
	hd.Set(app.Headers.PreferredUsername, headerValue(id.PreferredUsername))
	if !app.Assertion {
		return nil
	}
	a, err := h.assertion(app, sess)
	if err != nil {
		return err
	}
	hd.Set(AssertionHeader, a)
	return nil
}

// clearIdentity sets every identity header of the app to the empty value (a bypassed path).
func (a *App) clearIdentity(hd http.Header) {
	for _, name := range []string{a.Headers.User, a.Headers.Email, a.Headers.Groups, a.Headers.PreferredUsername, AssertionHeader} {
		hd[http.CanonicalHeaderKey(name)] = []string{""}
	}
}

// headerValue drops control characters (a header value never carries a line break).
func headerValue(v string) string {
	if !strings.ContainsFunc(v, isControl) {
		return v
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return -1
		}
		return r
	}, v)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
