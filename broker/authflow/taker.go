package authflow

import (
	"net/http"

	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// UpstreamTaker is a Responder whose flows end with the upstream identity itself rather
// than a signed-in user: the account page's "link another sign-in method" (broker/linking)
// runs a connector's login only to learn which upstream account the user controls. For a
// request of its protocol the flow never reuses the SSO session (the user must complete the
// connector's login), and at the end it neither normalizes the identity (no user is resolved
// or created) nor establishes a session, asks for a second factor or for consent: it
// consumes the auth request (of several submissions exactly one goes on) and calls
// TakeUpstream. Refusals before that point (an upstream error, a denial) end as for any
// flow, through Fail, Deny or an error page, with nothing taken.
type UpstreamTaker interface {
	Responder
	// TakeUpstream receives the identity the connector vouched for; the auth request is
	// already consumed.
	TakeUpstream(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, connectorID string, up connectors.Upstream)
}

// taker returns the UpstreamTaker of the request's protocol, or nil when its responder is an
// ordinary one.
func (f *Flow) taker(ar storage.AuthRequest) UpstreamTaker {
	tk, _ := f.responders[ar.Protocol].(UpstreamTaker)
	return tk
}

// handOver ends a login whose protocol takes the upstream identity: it consumes the request
// and hands the identity over. It reports whether it did (the caller then stops).
func (f *Flow) handOver(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, cn *connset.Slot, up connectors.Upstream) bool {
	tk := f.taker(ar)
	if tk == nil {
		return false
	}
	if f.consumeAuthRequest(w, r, ar.ID) {
		tk.TakeUpstream(w, r, ar, cn.Info.ID, up)
	}
	return true
}
