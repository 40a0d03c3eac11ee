package authflow

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// beginRedirect starts a redirect-connector login.
func (f *Flow) beginRedirect(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, cn *connset.Slot, rc connectors.RedirectConnector) {
	callback := f.url("/callback/" + url.PathEscape(cn.Info.ID))
	cctx, t0 := cn.Start(r.Context(), "begin")
	step, err := rc.Begin(cctx, connectors.BeginRequest{Scopes: scopesFor(ar), CallbackURL: callback, State: ar.ID, LoginHint: ar.LoginHint,
		Reauth: reauthFor(ar)})
	cn.Done(cctx, "begin", t0, err)
	if err != nil {
		var upErr *connectors.UpstreamError
		if errors.Is(err, connectors.ErrLoginRequired) {
			f.loginRequired(w, r, ar, cn, err)
			return
		}
		if errors.As(err, &upErr) {
			f.Logger.WarnContext(r.Context(), "upstream unavailable", "connector", cn.Info.ID, "err", err)
			f.record(r, ar, loginEvent(cn, "", audit.OutcomeUpstreamError))
			f.upstreamDown(w, r, ar, cn)
			return
		}
		f.Pages.Internal(w, r, "begin redirect login", err)
		return
	}
	// The login in progress is with cn (its stash belongs to cn); ConnectorID stays what the
	// request named, so the user may still go back and choose another connector when it named none.
	err = f.Store.UpdateAuthRequest(r.Context(), ar.ID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if !bindsTo(a, cn.Info.ID) {
			return a, errors.New("auth request is bound to another connector")
		}
		// Signing in again starts over: what an earlier login left is forgotten.
		a.LoggedIn, a.Identity, a.SessionID = false, storage.Identity{}, ""
		a.Auth = storage.Authentication{ConnectorID: cn.Info.ID}
		a.ConnectorState, a.MFA = step.Stash, nil
		return a, nil
	})
	if err != nil {
		f.Pages.Internal(w, r, "store connector state", err)
		return
	}
	if step.PostForm != nil {
		vals := url.Values{}
		for k, v := range step.PostForm {
			vals.Set(k, v)
		}
		f.Pages.FormPost(w, r, step.URL, vals)
		return
	}
	http.Redirect(w, r, step.URL, http.StatusSeeOther)
}

// handleCallback finishes a redirect-connector login. The upstream returns the broker's
// state (the auth request ID); the flow cookie proves it is the same browser.
func (f *Flow) handleCallback(w http.ResponseWriter, r *http.Request) {
	state := param(r, "state")
	if state == "" {
		state = param(r, "RelayState")
	}
	if state == "" || len(state) > 64 {
		f.Pages.Expired(w, r)
		return
	}
	ar, err := f.Store.GetAuthRequest(r.Context(), state)
	if errors.Is(err, storage.ErrNotFound) {
		f.Pages.Expired(w, r)
		return
	}
	if err != nil { // the upstream's answer is not lost: the user may reload the callback
		f.Pages.Internal(w, r, "load auth request of callback", err)
		return
	}
	flow := f.Sessions.FlowSecret(r)
	if flow == "" || session.HashID(flow) != ar.FlowHash || !f.Now().Before(ar.Expiry) {
		f.Pages.Expired(w, r)
		return
	}
	c := f.Clients.Get(ar.ClientID)
	if c == nil {
		f.Pages.Expired(w, r)
		return
	}
	logFlow(r.Context(), ar)
	cn, ok := f.connectorFor(w, r, ar, c)
	if !ok {
		return
	}
	rc, ok := cn.Conn.(connectors.RedirectConnector)
	if !ok || ar.LoggedIn || ar.Auth.ConnectorID != cn.Info.ID || !bindsTo(ar, cn.Info.ID) {
		f.Pages.Expired(w, r)
		return
	}
	stash, ok := f.claimCallback(w, r, ar.ID, cn.Info.ID)
	if !ok {
		return
	}
	reauth := reauthFor(ar)
	cctx, t0 := cn.Start(r.Context(), "finish")
	up, err := rc.Finish(cctx, connectors.FinishRequest{
		Scopes: scopesFor(ar), CallbackURL: f.url("/callback/" + url.PathEscape(cn.Info.ID)), State: ar.ID, Stash: stash,
		Reauth: reauth,
	}, r)
	cn.Done(cctx, "finish", t0, err)
	if err == nil {
		err = reauth.Check(up.AuthTime) // whatever the connector did: no evidence, no fresh auth_time
	}
	if err != nil {
		var denied *connectors.DeniedError
		var upErr *connectors.UpstreamError
		switch {
		case errors.Is(err, connectors.ErrLoginRequired):
			f.loginRequired(w, r, ar, cn, err)
		case errors.As(err, &denied):
			f.record(r, ar, loginEvent(cn, "", audit.OutcomeDenied))
			f.deny(w, r, ar, denied.Reason)
		case errors.As(err, &upErr):
			f.Logger.WarnContext(r.Context(), "upstream unavailable", "connector", cn.Info.ID, "err", err)
			f.record(r, ar, loginEvent(cn, "", audit.OutcomeUpstreamError))
			f.unavailable(w, r, cn)
		default:
			f.Logger.WarnContext(r.Context(), "redirect login failed", "connector", cn.Info.ID, "err", err)
			f.record(r, ar, loginEvent(cn, "", audit.OutcomeUpstreamError))
			f.Pages.Error(w, r, http.StatusBadGateway, "Sign-in failed",
				cn.Info.Name+" did not complete the sign-in.", "Go back to the application and try again.")
		}
		return
	}
	f.completeLogin(w, r, ar, c, cn, up)
}

// errCallbackTaken: another delivery of the same upstream callback took the login first.
var errCallbackTaken = errors.New("the redirect login was already taken by another delivery of its callback")

// claimCallback takes an auth request's redirect login in progress with connectorID, in one
// atomic update: the connector's stash is removed and the request no longer names a login in
// progress. Of several deliveries of one upstream callback at once (a double navigation, a
// load balancer retrying on another replica) exactly one goes on to the upstream, whose code
// is single-use: a second redemption makes the upstream revoke what the first one got (RFC
// 6749 4.1.2), so the tokens issued from the winner would die at their first refresh. The
// others get the "already finished" page. After a failed Finish, signing in again begins a
// new login. It renders the page itself and returns the stash and whether to go on.
func (f *Flow) claimCallback(w http.ResponseWriter, r *http.Request, id, connectorID string) ([]byte, bool) {
	var stash []byte
	err := f.Store.UpdateAuthRequest(r.Context(), id, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if a.LoggedIn || a.Auth.ConnectorID != connectorID {
			return a, errCallbackTaken
		}
		stash = a.ConnectorState
		a.Auth.ConnectorID, a.ConnectorState = "", nil
		return a, nil
	})
	switch {
	case err == nil:
		return stash, true
	case errors.Is(err, errCallbackTaken):
		f.Logger.InfoContext(r.Context(), "upstream callback delivered again; the upstream is not asked twice", "req", id, "connector", connectorID)
		f.Pages.AlreadyFinished(w, r)
	case errors.Is(err, storage.ErrNotFound):
		f.Pages.Expired(w, r)
	default:
		f.Pages.Internal(w, r, "claim redirect login", err)
	}
	return nil, false
}

// reauthLeeway is the clock skew allowed between Gatehouse and an upstream when checking that
// the upstream authenticated the user after the request that demanded it.
const reauthLeeway = 30 * time.Second

// reauthFor is what an auth request demands of a redirect connector's upstream: with
// prompt=login (or SAML ForceAuthn) an authentication after the request was made; with
// max_age one at most that old when the request was made.
func reauthFor(ar storage.AuthRequest) connectors.Reauth {
	var ra connectors.Reauth
	if slices.Contains(ar.Prompt, "login") || ar.MaxAge == 0 {
		ra.Force = true
		ra.NotBefore = ar.CreatedAt
	}
	if ar.MaxAge > 0 {
		ra.MaxAge = time.Duration(ar.MaxAge) * time.Second
		if nb := ar.CreatedAt.Add(-ra.MaxAge); ra.NotBefore.IsZero() || nb.After(ra.NotBefore) {
			ra.NotBefore = nb
		}
	}
	if !ra.NotBefore.IsZero() {
		ra.NotBefore = ra.NotBefore.Add(-reauthLeeway).Truncate(time.Second)
	}
	return ra
}

// loginRequired ends a flow whose demand for a fresh authentication (prompt=login, max_age,
// ForceAuthn) the upstream could not meet: the client gets login_required, never an
// auth_time the upstream did not vouch for.
func (f *Flow) loginRequired(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, cn *connset.Slot, cause error) {
	if err := f.Store.DeleteAuthRequest(r.Context(), ar.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		f.Pages.Internal(w, r, "delete auth request", err)
		return
	}
	f.Logger.InfoContext(r.Context(), "re-authentication not proven", "connector", cn.Info.ID, "client_id", ar.ClientID, "err", cause)
	if rs := f.responder(w, r, ar); rs != nil {
		rs.Fail(w, r, ar, oauth2err.New(oauth2err.LoginRequired, cn.Info.Name+" could not confirm a fresh sign-in"))
	}
}

// metadataProvider is implemented by connectors that publish metadata (SAML SP metadata).
type metadataProvider interface {
	Metadata(ctx context.Context) ([]byte, error)
}

// handleSPMetadata serves a SAML connector's service-provider metadata.
func (f *Flow) handleSPMetadata(w http.ResponseWriter, r *http.Request) {
	cn, ok := f.Connectors.Get(r.PathValue("connector"))
	var mp metadataProvider
	isMP := false
	if ok && cn.Up() {
		mp, isMP = cn.Conn.(metadataProvider)
	}
	if !isMP {
		http.NotFound(w, r)
		return
	}
	md, err := mp.Metadata(r.Context())
	if err != nil {
		f.Logger.WarnContext(r.Context(), "SP metadata unavailable", "connector", cn.Info.ID, "err", err)
		http.Error(w, "metadata unavailable: the connector's keys could not be read; try again shortly", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(md) //nolint:errcheck // the client went away; nothing to do
}
