package authflow

// Identifier-first sign-in with home-realm discovery (login.identifier_first, docs/login.md).
//
// The first page asks for the email or username; the flow then routes, in this order:
// connector_id from the client (bound, as everywhere), login_hint from the client (routes by
// its domain, else pre-fills the field), connectors[].domains (an email in a listed domain
// goes to that connector), the connector this browser used last (cookie), else the list.
// Routing never depends on whether the user exists: an unknown user gets the same next step
// as a known one (the password step of the connector the rules name), and the password
// connector fails at the password the same way for both.

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Bounds of what the identifier-first page accepts: an identifier (an email is at most 254
// octets, RFC 5321 4.5.3.1.3 with its path) and the local part of an email (64 octets).
const (
	MaxIdentifierLen = 256
	maxLocalPartLen  = 64
)

// Messages of the identifier step (message IDs of web/locales).
const (
	msgIdentifierEmpty     = "identifier.empty"
	msgIdentifierTooLong   = "identifier.too_long"
	msgIdentifierMalformed = "identifier.malformed"
)

// ParseIdentifier checks what a user typed as their email or username: trimmed, at most
// MaxIdentifierLen bytes of valid UTF-8 without control characters; one with an '@' must be
// an email (a local part of at most 64 bytes and a domain of config.DomainOK once
// lowercased; a local part of RFC 5322 atext, dots and non-ASCII letters). It returns the identifier and the email's lowercased domain ("" for a
// username), or the message ID saying what is wrong.
func ParseIdentifier(raw string) (identifier, domain, problem string) {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return "", "", msgIdentifierEmpty
	case len(s) > MaxIdentifierLen:
		return "", "", msgIdentifierTooLong
	case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		return "", "", msgIdentifierMalformed
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s, "", ""
	}
	local, dom := s[:at], strings.ToLower(s[at+1:])
	if local == "" || len(local) > maxLocalPartLen || strings.IndexFunc(local, notAtext) >= 0 || !config.DomainOK(dom) {
		return "", "", msgIdentifierMalformed
	}
	return s, dom, ""
}

// notAtext reports a rune that may not appear in the local part of an email as Gatehouse
// accepts it: RFC 5322 atext and '.', plus non-ASCII letters and digits (RFC 6531); no
// quoted local parts.
func notAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r):
		return false
	case r > unicode.MaxASCII:
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	}
	return true
}

// byDomain maps each configured email domain to its connector's slot.
func byDomain(set *connset.Set) map[string]*connset.Slot {
	out := map[string]*connset.Slot{}
	if set == nil {
		return out
	}
	for _, sl := range set.All() {
		for _, d := range sl.Domains {
			out[d] = sl
		}
	}
	return out
}

// domainRoute returns the connector an identifier's email domain routes to, when the client
// allows it and the request may use it; nil otherwise (a username, or no connector claims
// the domain).
func (f *Flow) domainRoute(ar storage.AuthRequest, c *clients.Client, identifier string) *connset.Slot {
	_, dom, problem := ParseIdentifier(identifier)
	if problem != "" || dom == "" {
		return nil
	}
	sl := f.domains[dom]
	if sl == nil || !c.AllowsConnector(sl.Info.ID) || !bindsTo(ar, sl.Info.ID) {
		return nil
	}
	return sl
}

// route picks the connector for a typed identifier: its email domain's, else the one this
// browser used last (when the client allows it and it is open), else the only one the client
// allows, else none (the list).
func (f *Flow) route(r *http.Request, ar storage.AuthRequest, c *clients.Client, identifier string) *connset.Slot {
	if sl := f.domainRoute(ar, c, identifier); sl != nil {
		return sl
	}
	if last, ok := f.Connectors.Get(f.Sessions.LastConnector(r)); ok && last.Up() && c.AllowsConnector(last.Info.ID) {
		return last
	}
	if cs := f.Connectors.Usable(c.AllowsConnector); len(cs) == 1 {
		return cs[0]
	}
	return nil
}

// identifierData is the data of identifier.html: the identifier step, or the password step
// of a password connector (the identifier kept, changed through NotYou).
type identifierData struct {
	pages.Page
	ClientName string
	// Password is true on the password step.
	Password                  bool
	Action, ReqID, CSRF       string
	Identifier, Prompt, Error string
	ConnectorName             string
	// NotYou goes back to the identifier step; Others to the list of connectors ("" when
	// the client allows only one).
	NotYou, Others string
}

// listURL is the list of connectors of a flow (the chooser, also in identifier-first mode).
func (f *Flow) listURL(ar storage.AuthRequest, c *clients.Client) string {
	if len(f.Connectors.Usable(c.AllowsConnector)) < 2 || ar.ConnectorID != "" {
		return ""
	}
	return f.rel("/login?req=" + url.QueryEscape(ar.ID) + "&list=1")
}

// identifierPage renders the identifier step with the identifier pre-filled and msg (a
// message ID, or "").
func (f *Flow) identifierPage(w http.ResponseWriter, r *http.Request, status int, ar storage.AuthRequest, c *clients.Client, flow, identifier, msg string) {
	if len(identifier) > MaxIdentifierLen || !utf8.ValidString(identifier) {
		identifier = "" // never echo what was refused for its size or encoding
	}
	d := identifierData{
		Page: f.Pages.Page("Sign in"), ClientName: clientName(c),
		Action: f.rel("/login"), ReqID: ar.ID, CSRF: session.CSRFToken(flow, "identify:"+ar.ID),
		Identifier: identifier, Error: msg, Others: f.listURL(ar, c),
	}
	f.render(w, r, status, "identifier.html", "identifier", d)
}

// passwordStep renders a password connector's form as the second step of the identifier
// page: the identifier shown (read-only, "not you?" goes back) when known, else asked for.
func (f *Flow) passwordStep(w http.ResponseWriter, r *http.Request, status int, ar storage.AuthRequest, c *clients.Client, cn *connset.Slot, flow, username, msg string) {
	pc := cn.Conn.(connectors.PasswordConnector)
	if username == "" {
		username = ar.LoginHint
	}
	if len(username) > MaxIdentifierLen || !utf8.ValidString(username) {
		username = ""
	}
	d := identifierData{
		Page: f.Pages.Page("Sign in"), ClientName: clientName(c), Password: true,
		Action: f.rel("/login/" + url.PathEscape(cn.Info.ID)), ReqID: ar.ID, CSRF: session.CSRFToken(flow, "login:"+ar.ID),
		Identifier: username, Prompt: pc.Prompt(), Error: msg, ConnectorName: cn.Info.Name, Others: f.listURL(ar, c),
	}
	if d.Prompt == "" {
		d.Prompt = "Username"
	}
	if ar.ConnectorID == "" {
		d.NotYou = f.rel("/login?req=" + url.QueryEscape(ar.ID))
	}
	f.render(w, r, status, "identifier.html", "password step", d)
}

// handleIdentifier takes the identifier step's form (POST /login): CSRF, a well-formed
// identifier (else the form again with a message), remembered in the auth request as its
// login hint (pre-fills the password step, reaches redirect connectors upstream), then the
// connector the rules name, or the list.
func (f *Flow) handleIdentifier(w http.ResponseWriter, r *http.Request) {
	if !f.readForm(w, r) {
		return
	}
	ar, c, flow, ok := f.loadFlow(w, r)
	if !ok || !f.checkCSRF(w, r, flow, "identify:"+ar.ID) {
		return
	}
	if ar.ConnectorID != "" { // the client named the connector: the identifier chooses nothing
		f.redirectToLogin(w, r, ar, c)
		return
	}
	raw := r.PostFormValue("identifier")
	identifier, _, problem := ParseIdentifier(raw)
	if problem != "" {
		f.identifierPage(w, r, http.StatusBadRequest, ar, c, flow, strings.TrimSpace(raw), problem)
		return
	}
	logctx.Add(r.Context(), "username", identifier)
	err := f.Store.UpdateAuthRequest(r.Context(), ar.ID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		a.LoginHint = identifier
		return a, nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		f.Pages.Expired(w, r)
		return
	}
	if err != nil {
		f.Pages.Internal(w, r, "store identifier", err)
		return
	}
	cn := f.route(r, ar, c, identifier)
	q := "?req=" + url.QueryEscape(ar.ID)
	switch {
	case cn == nil:
		http.Redirect(w, r, f.rel("/login"+q+"&list=1"), http.StatusSeeOther)
	case !cn.Up(): // its domain's connector failed to open: say which, offer the others
		f.Logger.WarnContext(r.Context(), "identifier routed to an unavailable connector", "connector", cn.Info.ID)
		f.chooserPage(w, r, http.StatusServiceUnavailable, ar, c, cn.Info.Name)
	default:
		http.Redirect(w, r, f.rel("/login/"+url.PathEscape(cn.Info.ID)+q), http.StatusSeeOther)
	}
}

// upstreamDown answers a login whose connector's upstream cannot be reached: with
// login.identifier_first, the list of the other ways to sign in under a message naming it
// (when the client allows others); else the "provider unavailable" page.
func (f *Flow) upstreamDown(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, cn *connset.Slot) {
	c := f.Clients.Get(ar.ClientID)
	if !f.IdentifierFirst || c == nil || f.listURL(ar, c) == "" {
		f.unavailable(w, r, cn)
		return
	}
	f.chooserPage(w, r, http.StatusServiceUnavailable, ar, c, cn.Info.Name)
}
