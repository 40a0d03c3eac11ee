package grants

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/dpop"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// maxActDepth bounds the chain of actors an exchanged token carries (RFC 8693 4.1).
const maxActDepth = 5

// exchangeRequest is a parsed token exchange request (RFC 8693 2.1).
type exchangeRequest struct {
	SubjectToken, SubjectTokenType string
	ActorToken, ActorTokenType     string
	// Audiences and Resources are the requested targets, each possibly repeated.
	Audiences, Resources []string
	// Scopes are the requested scopes (nil: none requested).
	Scopes []string
}

// parseExchange reads a token exchange request from the token endpoint's form: subject_token
// and a known subject_token_type are required; actor_token and actor_token_type come
// together; requested_token_type, when sent, must be access_token (the only type issued);
// every resource must be an absolute URI without a fragment (else invalid_target, RFC 8707 2).
// Everything else is invalid_request (RFC 8693 2.2.2).
func parseExchange(form url.Values) (exchangeRequest, error) {
	req := exchangeRequest{
		SubjectToken: form.Get("subject_token"), SubjectTokenType: form.Get("subject_token_type"),
		ActorToken: form.Get("actor_token"), ActorTokenType: form.Get("actor_token_type"),
		Audiences: form["audience"], Resources: form["resource"],
	}
	bad := func(d string) (exchangeRequest, error) {
		return exchangeRequest{}, oauth2err.New(oauth2err.InvalidRequest, d)
	}
	switch {
	case req.SubjectToken == "":
		return bad("subject_token is missing")
	case req.SubjectTokenType == "":
		return bad("subject_token_type is missing")
	case !knownTokenType(req.SubjectTokenType):
		return bad("unsupported subject_token_type " + truncate(req.SubjectTokenType))
	case req.ActorToken != "" && req.ActorTokenType == "":
		return bad("actor_token_type is missing")
	case req.ActorToken == "" && req.ActorTokenType != "":
		return bad("actor_token_type sent without an actor_token")
	case req.ActorToken != "" && !knownTokenType(req.ActorTokenType):
		return bad("unsupported actor_token_type " + truncate(req.ActorTokenType))
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != clients.TokenTypeAccessToken {
		return bad("unsupported requested_token_type " + truncate(rt) + "; only access tokens are issued")
	}
	for _, a := range req.Audiences {
		if a == "" {
			return bad("audience must not be empty")
		}
	}
	if err := checkResources(req.Resources); err != nil {
		return exchangeRequest{}, err
	}
	if sc := form.Get("scope"); sc != "" {
		req.Scopes = dedupe(strings.Fields(sc))
	}
	return req, nil
}

// checkResources refuses a resource indicator that is not an absolute URI without a
// fragment (RFC 8707 2: invalid_target).
func checkResources(rs []string) error {
	for _, r := range rs {
		if err := config.CheckResourceURI(r); err != nil {
			return oauth2err.New(oauth2err.InvalidTarget, "resource "+truncate(r)+" is not an absolute URI without a fragment")
		}
	}
	return nil
}

// knownTokenType reports whether Gatehouse accepts subject or actor tokens of the type.
func knownTokenType(t string) bool {
	return t == clients.TokenTypeAccessToken || t == clients.TokenTypeIDToken
}

// exchangeSubject is what a verified subject (or actor) token says.
type exchangeSubject struct {
	// Sub is the sub of the exchanged token (as the exchanging client sees the user).
	Sub string
	// User is the internal user ID when known (for the audit trail).
	User                      string
	GrantID, SessionID        string
	ConnectorID               string
	AuthTime, Expiry          time.Time
	Act                       *tokens.Actor
	Scopes                    []string
	ScopesKnown, FromUpstream bool
}

// tokenExchangeGrant exchanges a subject token (and, for delegation, an actor token) for an
// access token for another audience (RFC 8693), within the client's token_exchange policy:
// an RFC 9068 access token whose sub is the subject's, client_id the exchanging client, aud
// the requested audiences and resources, and, with an actor token, act: {sub: <actor>} (the
// subject token's own act nested under it). No refresh token. A token from a Gatehouse access
// token keeps its grant (gid): revoking the user's grant revokes the exchanged token too. It
// never outlives its subject token.
//
// Invalid, expired or revoked subject and actor tokens, and tokens the policy does not
// accept, are invalid_request, as RFC 8693 2.2.2 requires; a refused audience or resource is
// invalid_target; a client without a policy is unauthorized_client.
//
// A non-empty jkt (the request's DPoP proof, RFC 9449) binds the exchanged token to that key;
// a DPoP-bound subject or actor token is accepted only with a proof of its own key, so that
// exchange never unbinds a sender-constrained token.
func (h *Handler) tokenExchangeGrant(r *http.Request, c *clients.Client, jkt string) (tokenResponse, error) {
	p := c.TokenExchange
	if p == nil || c.Public {
		return tokenResponse{}, oauth2err.New(oauth2err.UnauthorizedClient, "the client may not exchange tokens")
	}
	req, err := parseExchange(r.PostForm)
	if err != nil {
		return tokenResponse{}, err
	}
	switch {
	case !slices.Contains(p.SubjectTokenTypes, req.SubjectTokenType):
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidRequest, "the client may not exchange subject tokens of type "+req.SubjectTokenType)
	case req.ActorToken != "" && !p.Delegation:
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidRequest, "the client may not exchange with an actor_token (delegation)")
	case req.ActorToken == "" && !p.Impersonation:
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidRequest, "the client may only exchange with an actor_token (delegation)")
	}
	aud, err := exchangeAudience(c, req)
	if err != nil {
		return tokenResponse{}, err
	}
	ctx := r.Context()
	subj, err := h.verifySubject(ctx, c, req.SubjectTokenType, req.SubjectToken, jkt, p.UpstreamConnectors)
	if err != nil {
		return tokenResponse{}, subjectError("subject_token", err)
	}
	act := subj.Act
	if req.ActorToken != "" {
		actor, err := h.verifySubject(ctx, c, req.ActorTokenType, req.ActorToken, jkt, nil)
		if err != nil {
			return tokenResponse{}, subjectError("actor_token", err)
		}
		act = &tokens.Actor{Subject: actor.Sub, Act: subj.Act}
		if act.Depth() > maxActDepth {
			return tokenResponse{}, oauth2err.New(oauth2err.InvalidRequest, "the chain of actors is too long")
		}
	}
	scopes, err := exchangeScopes(c, req, subj)
	if err != nil {
		return tokenResponse{}, err
	}
	now := h.Now()
	exp := now.Add(h.Lifetimes.AccessToken)
	if !subj.Expiry.IsZero() && subj.Expiry.Before(exp) {
		exp = subj.Expiry
	}
	at, err := h.Minter.SignAccessTokenContext(ctx, tokens.AccessToken{
		ID: opaque.ID(), Subject: subj.Sub, ClientID: c.ID, GrantID: subj.GrantID, SessionID: subj.SessionID,
		Scopes: scopes, Audience: aud, AuthTime: subj.AuthTime, Expiry: exp, Act: act, JKT: jkt,
	})
	if err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	h.Audit.Record(ctx, exchangeEvent(c, req, subj, aud, act))
	return tokenResponse{AccessToken: at, IssuedTokenType: clients.TokenTypeAccessToken, TokenType: tokenType(jkt),
		ExpiresIn: int64(exp.Sub(now) / time.Second), Scope: strings.Join(scopes, " ")}, nil
}

// exchangeEvent is the audit event of one exchange (no token in it).
func exchangeEvent(c *clients.Client, req exchangeRequest, subj exchangeSubject, aud []string, act *tokens.Actor) audit.Event {
	d := map[string]string{"grant_type": clients.GrantTokenExchange, "subject_token_type": req.SubjectTokenType,
		"audience": strings.Join(aud, " "), "mode": "impersonation"}
	if req.ActorToken != "" {
		d["mode"], d["actor"] = "delegation", act.Subject
	}
	if subj.GrantID != "" {
		d["grant"] = subj.GrantID
	}
	if subj.FromUpstream {
		d["upstream"] = "true"
	}
	user := subj.User
	if user == "" {
		user = subj.Sub
	}
	return audit.Event{Type: audit.TokenIssued, Outcome: audit.OutcomeSuccess, User: user, ConnectorID: subj.ConnectorID, ClientID: c.ID, Detail: d}
}

// subjectError turns a refused subject or actor token into invalid_request (RFC 8693 2.2.2);
// server and availability errors stay what they are.
func subjectError(param string, err error) error {
	e := oauth2err.As(err)
	switch e.Code {
	case oauth2err.ServerError, oauth2err.TemporarilyUnavailable:
		return e
	}
	d := e.Description
	if d == "" {
		d = "invalid"
	}
	return oauth2err.New(oauth2err.InvalidRequest, param+": "+d).WithCause(err)
}

// exchangeAudience checks the requested audiences (the policy's) and resources (the
// client's) and returns the aud of the exchanged token: all of them, or the policy's first
// audience when none is requested.
func exchangeAudience(c *clients.Client, req exchangeRequest) ([]string, error) {
	p := c.TokenExchange
	for _, a := range req.Audiences {
		if !slices.Contains(p.Audiences, a) {
			return nil, oauth2err.New(oauth2err.InvalidTarget, "audience "+truncate(a)+" is not allowed for this client")
		}
	}
	for _, res := range req.Resources {
		if !c.AllowsResource(res) {
			return nil, oauth2err.New(oauth2err.InvalidTarget, "resource "+truncate(res)+" is not allowed for this client")
		}
	}
	aud := dedupe(append(slices.Clone(req.Audiences), req.Resources...))
	if len(aud) == 0 {
		if len(p.Audiences) == 0 {
			return nil, oauth2err.New(oauth2err.InvalidTarget, "name an audience or a resource")
		}
		aud = p.Audiences[:1]
	}
	return aud, nil
}

// exchangeScopes narrows the scopes: within the subject access token's (offline_access
// never passes: there is no refresh token), or for an ID token subject within the client's
// allowed_scopes. None requested: all of the subject token's (none for an ID token).
func exchangeScopes(c *clients.Client, req exchangeRequest, subj exchangeSubject) ([]string, error) {
	allowed := c.Scopes
	if subj.ScopesKnown {
		allowed = slices.DeleteFunc(slices.Clone(subj.Scopes), func(s string) bool { return s == "offline_access" })
	}
	if req.Scopes == nil {
		if subj.ScopesKnown {
			return allowed, nil
		}
		return nil, nil
	}
	for _, s := range req.Scopes {
		if !slices.Contains(allowed, s) {
			return nil, oauth2err.New(oauth2err.InvalidScope, "scope "+truncate(s)+" exceeds what the subject token allows")
		}
	}
	return req.Scopes, nil
}

// verifySubject verifies a subject or actor token of the given type for client c: a
// Gatehouse access token (userinfo.Verifier: signature, expiry, grant live) issued to or for
// c; a Gatehouse ID token issued to c whose session is live; or, when upstream names oidc
// connectors, an ID token one of their upstreams issued to the connector's client_id. jkt is
// the request's DPoP key (a bound access token needs it).
func (h *Handler) verifySubject(ctx context.Context, c *clients.Client, typ, raw, jkt string, upstream []string) (exchangeSubject, error) {
	if typ == clients.TokenTypeAccessToken {
		return h.verifyAccessSubject(ctx, c, raw, jkt)
	}
	if peekIssuer(raw) == h.Issuer || len(upstream) == 0 {
		return h.verifyIDSubject(ctx, c, raw)
	}
	return h.verifyUpstreamSubject(ctx, c, raw, upstream)
}

// verifyAccessSubject verifies a Gatehouse access token as a subject or actor token; a
// DPoP-bound one only with a proof of its key (jkt).
func (h *Handler) verifyAccessSubject(ctx context.Context, c *clients.Client, raw, jkt string) (exchangeSubject, error) {
	at, g, err := h.Access.Verify(ctx, raw)
	if err != nil {
		return exchangeSubject{}, err
	}
	if at.JKT != "" && !dpop.SameKey(jkt, at.JKT) {
		return exchangeSubject{}, oauth2err.New(oauth2err.InvalidRequest, "the token is DPoP-bound: send a DPoP proof of its key")
	}
	if at.ClientID != c.ID && !slices.Contains(at.Audience, c.ID) {
		return exchangeSubject{}, oauth2err.New(oauth2err.InvalidRequest, "the token was issued neither to nor for this client")
	}
	s := exchangeSubject{Sub: at.Subject, GrantID: at.GrantID, SessionID: at.SessionID, AuthTime: at.AuthTime,
		Expiry: at.Expiry, Act: at.Act, Scopes: at.Scopes, ScopesKnown: true}
	if at.GrantID != "" {
		s.User, s.ConnectorID = g.Identity.Subject, g.Auth.ConnectorID
		s.Sub = h.Claims.SubjectFor(c.ID, g.Identity.Subject)
	}
	return s, nil
}

// verifyIDSubject verifies a Gatehouse ID token issued to c, unexpired, whose SSO session
// (sid) has not ended. Its sub is already the one c sees.
func (h *Handler) verifyIDSubject(ctx context.Context, c *clients.Client, raw string) (exchangeSubject, error) {
	hint, err := h.Minter.VerifyIDTokenHint(raw)
	if err != nil {
		return exchangeSubject{}, oauth2err.New(oauth2err.InvalidRequest, "the ID token is invalid").WithCause(err)
	}
	switch {
	case hint.Expiry.IsZero() || !h.Now().Before(hint.Expiry):
		return exchangeSubject{}, oauth2err.New(oauth2err.InvalidRequest, "the ID token has expired")
	case hint.Audience != c.ID:
		return exchangeSubject{}, oauth2err.New(oauth2err.InvalidRequest, "the ID token was issued to another client")
	}
	if hint.SessionID != "" {
		_, live, err := h.Sessions.Live(ctx, hint.SessionID)
		if err != nil {
			return exchangeSubject{}, oauth2err.Server(err)
		}
		if !live {
			return exchangeSubject{}, oauth2err.New(oauth2err.InvalidRequest, "the user signed out of the ID token's session")
		}
	}
	return exchangeSubject{Sub: hint.Subject, SessionID: hint.SessionID, Expiry: hint.Expiry}, nil
}

// verifyUpstreamSubject verifies an upstream ID token with the first of the named oidc
// connectors that accepts it, then maps and links the user as a login through that connector
// would, and applies the client's requirements.
func (h *Handler) verifyUpstreamSubject(ctx context.Context, c *clients.Client, raw string, upstream []string) (exchangeSubject, error) {
	var errs []error
	var down error
	for _, id := range upstream {
		slot, _ := h.Connectors.Get(id)
		var iv connectors.IDTokenVerifier
		if slot.Up() {
			iv, _ = slot.Conn.(connectors.IDTokenVerifier)
		}
		if iv == nil {
			errs = append(errs, errors.New(id+": unavailable or cannot verify ID tokens"))
			continue
		}
		cctx, t0 := slot.Start(ctx, "verify_id_token")
		up, err := iv.VerifyIDToken(cctx, raw)
		slot.Done(cctx, "verify_id_token", t0, err)
		var ue *connectors.UpstreamError
		if errors.As(err, &ue) {
			down = err
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		idn, err := h.Claims.Normalize(ctx, id, up)
		if err == nil {
			err = h.Claims.AuthorizeClient(c.ID, idn)
		}
		var denied *connectors.DeniedError
		if errors.As(err, &denied) {
			return exchangeSubject{}, oauth2err.New(oauth2err.InvalidRequest, "the user may not use this client: "+denied.Reason)
		}
		if err != nil {
			return exchangeSubject{}, oauth2err.Server(err)
		}
		return exchangeSubject{Sub: h.Claims.SubjectFor(c.ID, idn.Subject), User: idn.Subject, ConnectorID: id,
			AuthTime: up.AuthTime, Expiry: peekExpiry(raw), FromUpstream: true}, nil
	}
	if down != nil {
		// An upstream whose keys cannot be fetched cannot say whether the token is good.
		return exchangeSubject{}, (&oauth2err.Error{Code: oauth2err.TemporarilyUnavailable,
			Description: "the upstream identity provider is unavailable", Status: http.StatusServiceUnavailable}).WithCause(errors.Join(errs...))
	}
	return exchangeSubject{}, oauth2err.New(oauth2err.InvalidRequest, "the ID token was not verified by Gatehouse or a configured upstream").
		WithCause(errors.Join(errs...))
}

// peekClaims decodes a JWT's payload without verifying it (to route it to its verifier, or
// to read exp once it is verified).
func peekClaims(raw string) (iss string, exp int64) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return "", 0
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", 0
	}
	var c struct {
		Iss string `json:"iss"`
		Exp int64  `json:"exp"`
	}
	if json.Unmarshal(b, &c) != nil {
		return "", 0
	}
	return c.Iss, c.Exp
}

// peekIssuer is the unverified iss of a JWT ("" when it has none).
func peekIssuer(raw string) string { iss, _ := peekClaims(raw); return iss }

// peekExpiry is the exp of a JWT already verified (zero when it has none).
func peekExpiry(raw string) time.Time {
	if _, exp := peekClaims(raw); exp > 0 {
		return time.Unix(exp, 0)
	}
	return time.Time{}
}
