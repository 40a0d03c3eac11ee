package oidc

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

var _ connectors.UpstreamLogoutConnector = (*Connector)(nil)

// LogoutStep returns the upstream's end_session_endpoint (OpenID Connect RP-Initiated Logout
// 1.0 section 2) with id_token_hint (the upstream ID token of the login, when the stash has
// one), client_id, post_logout_redirect_uri and state. Without an end_session_endpoint in
// the upstream's discovery it returns connectors.ErrNoUpstreamLogout.
func (c *Connector) LogoutStep(ctx context.Context, req connectors.LogoutRequest) (connectors.Step, error) {
	up, err := c.provider(ctx)
	if err != nil {
		return connectors.Step{}, err
	}
	if up.endSessionURL == "" {
		return connectors.Step{}, connectors.ErrNoUpstreamLogout
	}
	u, err := url.Parse(up.endSessionURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return connectors.Step{}, &connectors.UpstreamError{Err: fmt.Errorf("oidc: end_session_endpoint %q is not an http(s) URL", up.endSessionURL)}
	}
	var gs grantStash
	if len(req.Upstream.Stash) > 0 {
		if err := oauthflow.DecodeStash(req.Upstream.Stash, &gs); err != nil {
			return connectors.Step{}, err
		}
	}
	q := u.Query()
	if gs.IDToken != "" {
		q.Set("id_token_hint", gs.IDToken)
	}
	q.Set("client_id", c.opts.ClientID)
	if req.ReturnURL != "" {
		q.Set("post_logout_redirect_uri", req.ReturnURL)
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	u.RawQuery = q.Encode()
	return connectors.Step{URL: u.String()}, nil
}

// FinishLogout accepts the upstream's return: RP-Initiated Logout sends back only the state,
// which the broker has matched.
func (c *Connector) FinishLogout(context.Context, []byte, *http.Request) error { return nil }
