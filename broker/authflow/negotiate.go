package authflow

import (
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// negotiate serves the password form page of a connector that also accepts Kerberos tickets
// (SPNEGO, RFC 4559). Without a ticket it answers 401 with "WWW-Authenticate: Negotiate" and
// the form as the body: a domain-joined browser retries at once with its ticket, any other
// shows the form. A ticket is checked by the connector and signs the user in; a refused one
// shows the form with a message and no challenge, so a browser cannot loop on it. Callers
// skip it when the request demands a fresh authentication (prompt=login, max_age): a ticket
// proves only the desktop sign-in.
func (f *Flow) negotiate(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, cn *connset.Slot, flow string, nc connectors.NegotiateConnector) {
	cctx, t0 := cn.Start(r.Context(), "negotiate")
	up, err := nc.Negotiate(cctx, scopesFor(ar), r.Header.Get("Authorization"))
	cn.Done(cctx, "negotiate", t0, err)
	var denied *connectors.DeniedError
	var upErr *connectors.UpstreamError
	switch {
	case err == nil:
		f.completeLogin(w, r, ar, c, cn, up)
	case errors.Is(err, connectors.ErrNoTicket):
		w.Header().Set("WWW-Authenticate", "Negotiate")
		f.loginPage(w, r, http.StatusUnauthorized, ar, c, cn, flow, "", "")
	case errors.Is(err, connectors.ErrBadCredentials):
		f.Logger.InfoContext(r.Context(), "kerberos login refused", "connector", cn.Info.ID, "err", err)
		f.record(r, ar, loginEvent(cn, "", audit.OutcomeBadCredentials))
		f.loginPage(w, r, http.StatusOK, ar, c, cn, flow, "",
			"Your computer's sign-in was not accepted. Sign in with your username and password.")
	case errors.As(err, &denied):
		f.record(r, ar, loginEvent(cn, "", audit.OutcomeDenied))
		f.deny(w, r, ar, denied.Reason)
	case errors.As(err, &upErr):
		f.Logger.WarnContext(r.Context(), "upstream unavailable", "connector", cn.Info.ID, "err", err)
		f.record(r, ar, loginEvent(cn, "", audit.OutcomeUpstreamError))
		f.unavailable(w, r, cn)
	default:
		f.Pages.Internal(w, r, "kerberos login", err)
	}
}
