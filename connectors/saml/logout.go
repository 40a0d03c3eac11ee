package saml

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/beevik/etree"
	csaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Single logout with the upstream IdP (connectors logout: upstream, docs/logout.md). The SP's
// single logout service is {issuer}/saml/sp/{id}/slo (SloURL, in the SP metadata only with
// logout: upstream): the IdP sends its LogoutResponses and its own LogoutRequests there.

var (
	_ connectors.UpstreamLogoutConnector = (*Connector)(nil)
	_ connectors.LogoutRequestReceiver   = (*Connector)(nil)
)

// sessionStash is kept with the Gatehouse session (sealed at rest like all connector data):
// the NameID and SessionIndex a LogoutRequest to the IdP must name.
type sessionStash struct {
	NameID          string `json:"nid"`
	Format          string `json:"nf,omitempty"`
	NameQualifier   string `json:"nq,omitempty"`
	SPNameQualifier string `json:"spq,omitempty"`
	SessionIndex    string `json:"si,omitempty"`
}

// logoutStash is what LogoutStep keeps for FinishLogout: the LogoutRequest's ID, which the
// IdP's LogoutResponse must answer.
type logoutStash struct {
	RequestID string `json:"rid"`
}

// LogoutStep returns the IdP's HTTP-Redirect single logout service with a LogoutRequest
// (signed when the SP signs requests) for the NameID and SessionIndex of the login, and
// RelayState = the broker's state. Without a redirect single logout service in the IdP
// metadata, or a login that recorded no NameID, it returns connectors.ErrNoUpstreamLogout.
// The IdP answers at the SP's single logout service, not at req.ReturnURL.
func (c *Connector) LogoutStep(ctx context.Context, req connectors.LogoutRequest) (connectors.Step, error) {
	sp, err := c.provider(ctx)
	if err != nil {
		return connectors.Step{}, err
	}
	location := sp.GetSLOBindingLocation(csaml.HTTPRedirectBinding)
	if location == "" || sp.SloURL.String() == "" {
		return connectors.Step{}, connectors.ErrNoUpstreamLogout
	}
	var st sessionStash
	if len(req.Upstream.Stash) == 0 || json.Unmarshal(req.Upstream.Stash, &st) != nil || st.NameID == "" {
		return connectors.Step{}, connectors.ErrNoUpstreamLogout
	}
	lr, err := sp.MakeLogoutRequest(location, st.NameID, csaml.WithSessionIndex(st.SessionIndex), func(r *csaml.LogoutRequest) {
		r.NameID.Format, r.NameID.NameQualifier, r.NameID.SPNameQualifier = st.Format, st.NameQualifier, st.SPNameQualifier
	})
	if err != nil {
		return connectors.Step{}, fmt.Errorf("saml: make LogoutRequest: %w", err)
	}
	u, err := sp.RedirectLogoutRequestURL(lr, req.State)
	if err != nil {
		return connectors.Step{}, fmt.Errorf("saml: redirect binding: %w", err)
	}
	stash, err := json.Marshal(logoutStash{RequestID: lr.ID})
	if err != nil {
		return connectors.Step{}, fmt.Errorf("saml: %w", err)
	}
	return connectors.Step{URL: u.String(), Stash: stash}, nil
}

// FinishLogout checks the IdP's LogoutResponse (HTTP-Redirect or HTTP-POST): signed by the
// IdP, Destination the SP's single logout service, from the IdP, answering the LogoutRequest
// LogoutStep made, and Success.
func (c *Connector) FinishLogout(ctx context.Context, stash []byte, r *http.Request) error {
	var st logoutStash
	if err := json.Unmarshal(stash, &st); err != nil || st.RequestID == "" {
		return errors.New("saml: the logout state is damaged")
	}
	sp, err := c.provider(ctx)
	if err != nil {
		return err
	}
	if _, err := sp.ParseLogoutResponse(r, []string{st.RequestID}); err != nil {
		c.logger.WarnContext(ctx, "saml: LogoutResponse refused", "detail", errString(detailOf(err)))
		return fmt.Errorf("saml: LogoutResponse refused: %w", err)
	}
	return nil
}

// ReadLogoutRequest validates the IdP's LogoutRequest (HTTP-Redirect, HTTP-POST or
// SimpleSign): signed by the IdP, Destination the SP's single logout service, from the IdP,
// fresh, its ID used once (the replay cache shared by replicas). Subject is the NameID when
// the connector's subject is the NameID (no attributes.subject); SessionIDs are its
// SessionIndexes.
func (c *Connector) ReadLogoutRequest(ctx context.Context, r *http.Request) (connectors.UpstreamLogoutRequest, error) {
	sp, err := c.provider(ctx)
	if err != nil {
		return connectors.UpstreamLogoutRequest{}, err
	}
	if sp.SloURL.String() == "" {
		return connectors.UpstreamLogoutRequest{}, errors.New("saml: this connector takes no logout requests (logout is not upstream)")
	}
	lr, err := sp.ValidateLogoutRequest(r)
	if err != nil {
		c.logger.WarnContext(ctx, "saml: LogoutRequest refused", "detail", errString(detailOf(err)))
		return connectors.UpstreamLogoutRequest{}, fmt.Errorf("saml: LogoutRequest refused: %w", err)
	}
	out := connectors.UpstreamLogoutRequest{ID: lr.ID, RelayState: r.Form.Get("RelayState")}
	if r.URL.Query().Has("SAMLRequest") {
		out.RelayState = r.URL.Query().Get("RelayState")
	}
	if c.attrs.Subject == "" && lr.NameID != nil {
		out.Subject = strings.TrimSpace(lr.NameID.Value)
	}
	for _, si := range lr.AllSessionIndexes() {
		if v := strings.TrimSpace(si.Value); v != "" {
			out.SessionIDs = append(out.SessionIDs, v)
		}
	}
	if out.Subject == "" && len(out.SessionIDs) == 0 {
		return connectors.UpstreamLogoutRequest{}, errors.New("saml: the LogoutRequest names no session this connector can find (no NameID as subject, no SessionIndex)")
	}
	return out, nil
}

// AnswerLogoutRequest returns the LogoutResponse to the IdP's single logout service (the
// HTTP-Redirect binding, else HTTP-POST): Success, or Success with the second-level status
// PartialLogout when not everything could be told.
func (c *Connector) AnswerLogoutRequest(ctx context.Context, req connectors.UpstreamLogoutRequest, complete bool) (connectors.Step, error) {
	sp, err := c.provider(ctx)
	if err != nil {
		return connectors.Step{}, err
	}
	status := csaml.Status{StatusCode: csaml.StatusCode{Value: csaml.StatusSuccess}}
	if !complete {
		status.StatusCode.StatusCode = &csaml.StatusCode{Value: csaml.StatusPartialLogout}
	}
	if sp.GetSLOBindingLocation(csaml.HTTPRedirectBinding) != "" {
		u, err := sp.MakeRedirectLogoutResponseWithStatus(req.ID, req.RelayState, status)
		if err != nil {
			return connectors.Step{}, fmt.Errorf("saml: LogoutResponse: %w", err)
		}
		return connectors.Step{URL: u.String()}, nil
	}
	location := sp.GetSLOBindingLocation(csaml.HTTPPostBinding)
	if location == "" {
		return connectors.Step{}, connectors.ErrNoUpstreamLogout
	}
	resp, err := sp.MakeLogoutResponseWithStatus(location, req.ID, status)
	if err != nil {
		return connectors.Step{}, fmt.Errorf("saml: LogoutResponse: %w", err)
	}
	b, err := xmlBytes(resp.Element())
	if err != nil {
		return connectors.Step{}, err
	}
	form := map[string]string{"SAMLResponse": b}
	if req.RelayState != "" {
		form["RelayState"] = req.RelayState
	}
	return connectors.Step{URL: location, PostForm: form}, nil
}

// detailOf is crewjam's private reason of a refusal, for the log.
func detailOf(err error) error {
	var ivr *csaml.InvalidResponseError
	if errors.As(err, &ivr) && ivr.PrivateErr != nil {
		return ivr.PrivateErr
	}
	return err
}

// xmlBytes is the base64 of el serialized, as the HTTP-POST binding carries it.
func xmlBytes(el *etree.Element) (string, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	b, err := doc.WriteToBytes()
	if err != nil {
		return "", fmt.Errorf("saml: post binding: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
