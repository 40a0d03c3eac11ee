package broker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// SAML service providers enter the shared login flow as pseudo-clients: an AuthnRequest
// becomes a storage.AuthRequest with ResponseType "saml", ClientID "saml:"+sp.id,
// RedirectURI the validated ACS URL, State the RelayState, Nonce the AuthnRequest ID, and
// ResponseMode "saml:<sp id>:<request id>" (which redirectError recognizes). Login, MFA and
// consent run unchanged; finish() hands such a request to samlFinish instead of issuing a
// code.
const (
	samlResponseType = "saml"
	samlModePrefix   = "saml:"
	// samlPendingType marks a POST-binding request parked until the browser comes back with
	// a GET (so that the SameSite=Lax SSO cookie is visible).
	samlPendingType = "saml-pending"
	samlPendingTTL  = 2 * time.Minute
	// samlLogoutTTL bounds an IdP-initiated front-channel logout across SPs.
	samlLogoutTTL = 10 * time.Minute
)

// samlScopes are the scopes a SAML login grants, so the claims pipeline emits what
// attributes need.
var samlScopes = []string{"openid", "profile", "email", "groups"}

// defaultSAMLAttributes are sent to SPs that configure no attributes.
var defaultSAMLAttributes = map[string]string{
	"email": "email", "email_verified": "email_verified", "name": "name", "preferred_username": "preferred_username", "groups": "groups",
}

// SAMLClientID is the pseudo-client ID of a SAML service provider.
func SAMLClientID(spID string) string { return "saml:" + spID }

// SAMLClients returns the pseudo-clients of the IdP's service providers, for the client
// registry: no secret and no redirect URIs, so /authorize and /token refuse them; only the
// SAML endpoints start flows for them.
func SAMLClients(idp *samlidp.IdP) []clients.Client {
	if idp == nil {
		return nil
	}
	var out []clients.Client
	for _, sp := range idp.ServiceProviders() {
		out = append(out, clients.New(clients.Client{
			ID: SAMLClientID(sp.ID), Name: sp.DisplayName(), Trusted: sp.Trusted,
			AllowedConnectors: sp.AllowedConnectors,
		}, ""))
	}
	return out
}

// samlRoutes mounts the IdP endpoints (when configured). The SSO and SLO endpoints receive
// cross-site POSTs from SPs, so they get page headers only, like /authorize.
func (s *Server) samlRoutes(m *route.Mux) {
	if s.SAML == nil {
		return
	}
	m.Plain("GET /saml/idp/metadata", http.HandlerFunc(s.handleSAMLMetadata))
	m.Page("GET /saml/idp/sso", s.handleSAMLSSO)
	m.Page("POST /saml/idp/sso", s.handleSAMLSSO)
	m.Page("GET /saml/idp/slo", s.handleSAMLSLO)
	m.Page("POST /saml/idp/slo", s.handleSAMLSLO)
	m.Page("GET /saml/idp/init/{sp}", s.handleSAMLInit)
}

// handleSAMLMetadata serves the IdP metadata.
func (s *Server) handleSAMLMetadata(w http.ResponseWriter, r *http.Request) {
	md, err := s.SAML.MetadataXML()
	if err != nil {
		s.Logger.ErrorContext(r.Context(), "saml metadata", "err", err)
		http.Error(w, "metadata unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(md)
}

// samlRefused is the page for a request Gatehouse will not answer (never a response sent
// elsewhere).
func (s *Server) samlRefused(w http.ResponseWriter, r *http.Request, err error) {
	var re *samlidp.RequestError
	reason := "the sign-in request is not valid"
	if errors.As(err, &re) {
		reason = re.Reason
	}
	s.Logger.WarnContext(r.Context(), "saml request refused", "err", err)
	s.pages.Error(w, r, http.StatusBadRequest, "Sign-in request refused",
		"The application sent a SAML sign-in request Gatehouse cannot accept: "+reason+".",
		"This is a problem with the application's configuration; tell its administrator.")
}

// handleSAMLSSO is the single sign-on service: HTTP-Redirect (GET) and HTTP-POST bindings.
// A POST is validated, parked as a short-lived auth request and redirected (303) to a GET
// of this endpoint, which the browser sends with its SameSite=Lax SSO cookie.
func (s *Server) handleSAMLSSO(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Query().Has("pending") {
		s.resumeSAMLPending(w, r, r.URL.Query().Get("pending"))
		return
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	}
	areq, err := s.SAML.ParseAuthnRequest(r)
	if err != nil {
		s.samlRefused(w, r, err)
		return
	}
	if r.Method == http.MethodPost {
		s.parkSAMLRequest(w, r, areq)
		return
	}
	s.samlStart(w, r, areq)
}

// parkSAMLRequest stores a POST-binding request (without touching cookies: a cross-site
// POST carries none of the Lax ones) and sends the browser to GET it back.
func (s *Server) parkSAMLRequest(w http.ResponseWriter, r *http.Request, areq *samlidp.AuthnRequest) {
	now := s.Now().UTC()
	ar := s.samlAuthRequest(areq, now)
	ar.ResponseType = samlPendingType
	ar.Expiry = now.Add(samlPendingTTL)
	if err := s.Storage.CreateAuthRequest(r.Context(), ar); err != nil {
		s.pages.Internal(w, r, "park saml request", err)
		return
	}
	http.Redirect(w, r, s.rel("/saml/idp/sso?pending="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
}

// resumeSAMLPending takes a parked request back (once) and starts its flow.
func (s *Server) resumeSAMLPending(w http.ResponseWriter, r *http.Request, id string) {
	ctx := r.Context()
	if id == "" || len(id) > 64 {
		s.pages.Expired(w, r)
		return
	}
	ar, err := s.Storage.GetAuthRequest(ctx, id)
	if err != nil || ar.ResponseType != samlPendingType || !s.Now().Before(ar.Expiry) {
		s.pages.Expired(w, r)
		return
	}
	if err := s.Storage.DeleteAuthRequest(ctx, id); err != nil {
		s.pages.Expired(w, r) // another tab took it
		return
	}
	areq, ok := s.samlRequestOf(ar)
	if !ok {
		s.pages.Expired(w, r)
		return
	}
	areq.ForceAuthn = slices.Contains(ar.Prompt, "login")
	areq.IsPassive = slices.Contains(ar.Prompt, "none")
	s.samlStart(w, r, areq)
}

// handleSAMLInit is an IdP-initiated login link: {issuer}/saml/idp/init/{sp}?RelayState=...
func (s *Server) handleSAMLInit(w http.ResponseWriter, r *http.Request) {
	relay := r.URL.Query().Get("RelayState")
	if len(relay) > 1024 {
		s.pages.Error(w, r, http.StatusBadRequest, "Sign-in request refused", "The RelayState is too long.", "")
		return
	}
	areq, err := s.SAML.IdPInitiated(r.Context(), r.PathValue("sp"), relay)
	if err != nil {
		s.samlRefused(w, r, err)
		return
	}
	s.samlStart(w, r, areq)
}

// samlMode encodes the SP, the request ID and what the request asks of the assertion
// (NameIDPolicy, RequestedAuthnContext) into ResponseMode: "saml:{sp}?id={request id}&...".
func samlMode(areq *samlidp.AuthnRequest) string {
	v, _ := url.ParseQuery(areq.Policy()) //nolint:errcheck // Policy is url.Values.Encode output
	v.Set("id", areq.ID)
	return samlModePrefix + areq.SP.ID + "?" + v.Encode()
}

// samlRequestOf rebuilds the AuthnRequest an auth request came from.
func (s *Server) samlRequestOf(ar storage.AuthRequest) (*samlidp.AuthnRequest, bool) {
	return s.samlRequestFrom(ar.ResponseMode, ar.RedirectURI, ar.State)
}

// samlRequestFrom rebuilds an AuthnRequest from samlMode's encoding (or the older
// "saml:{sp}:{request id}" of requests stored before it), the ACS URL and the RelayState.
func (s *Server) samlRequestFrom(mode, acs, relay string) (*samlidp.AuthnRequest, bool) {
	rest, ok := strings.CutPrefix(mode, samlModePrefix)
	i := strings.IndexAny(rest, ":?")
	if !ok || s.SAML == nil || i < 0 {
		return nil, false
	}
	sp := s.SAML.ServiceProvider(rest[:i])
	if sp == nil {
		return nil, false
	}
	areq := &samlidp.AuthnRequest{SP: sp, ID: rest[i+1:], ACSURL: acs, RelayState: relay}
	if rest[i] == ':' {
		return areq, true
	}
	v, err := url.ParseQuery(rest[i+1:])
	if err != nil {
		return nil, false
	}
	areq.ID = v.Get("id")
	v.Del("id")
	if err := areq.SetPolicy(v.Encode()); err != nil {
		return nil, false
	}
	return areq, true
}

// samlAuthRequest maps an AuthnRequest to an auth request (without browser binding).
func (s *Server) samlAuthRequest(areq *samlidp.AuthnRequest, now time.Time) storage.AuthRequest {
	var prompt []string
	if areq.ForceAuthn {
		prompt = append(prompt, "login")
	}
	if areq.IsPassive {
		prompt = append(prompt, "none")
	}
	return storage.AuthRequest{
		ID: opaque.ID(), Protocol: storage.ProtocolSAML, ClientID: SAMLClientID(areq.SP.ID), RedirectURI: areq.ACSURL,
		ResponseType: samlResponseType, ResponseMode: samlMode(areq),
		Scopes: slices.Clone(samlScopes), State: areq.RelayState, Nonce: areq.ID, Prompt: prompt, MaxAge: -1,
		CreatedAt: now, Expiry: now.Add(s.Lifetimes.AuthRequest),
	}
}

// samlStart is /authorize for a validated AuthnRequest: it checks what the request asks of
// the assertion and hands it to the login flow (an SSO session the SP may use skips the
// login unless ForceAuthn; IsPassive without one is answered with NoPassive).
func (s *Server) samlStart(w http.ResponseWriter, r *http.Request, areq *samlidp.AuthnRequest) {
	needMFA, err := s.SAML.CheckRequest(areq, s.MFA != nil)
	if err != nil {
		s.samlPolicyError(w, r, areq, err)
		return
	}
	ar := s.samlAuthRequest(areq, s.Now().UTC())
	if needMFA {
		// Only a multi-factor login satisfies the RequestedAuthnContext: ask for one as
		// acr_values would.
		ar.ACRValues = []string{mfa.ACRMFA}
	}
	s.Logger.InfoContext(r.Context(), "saml authn request", "sp", areq.SP.ID, "request_id", areq.ID, "force_authn", areq.ForceAuthn, "passive", areq.IsPassive)
	s.flow.Start(w, r, ar, "")
}

// samlPolicyError answers a request whose NameIDPolicy or RequestedAuthnContext cannot be
// satisfied with InvalidNameIDPolicy or NoAuthnContext; any other error is internal.
func (s *Server) samlPolicyError(w http.ResponseWriter, r *http.Request, areq *samlidp.AuthnRequest, err error) {
	switch {
	case errors.Is(err, samlidp.ErrNoEmail):
		s.samlErrorResponse(w, r, areq, samlidp.StatusInvalidNameIDPolicy, "the user has no verified email address")
	case errors.Is(err, samlidp.ErrInvalidNameIDPolicy):
		s.Logger.InfoContext(r.Context(), "saml request refused", "sp", areq.SP.ID, "err", err)
		s.samlErrorResponse(w, r, areq, samlidp.StatusInvalidNameIDPolicy, "the requested NameID format cannot be provided")
	case errors.Is(err, samlidp.ErrNoAuthnContext):
		s.Logger.InfoContext(r.Context(), "saml request refused", "sp", areq.SP.ID, "err", err)
		s.samlErrorResponse(w, r, areq, samlidp.StatusNoAuthnContext, "the requested authentication context cannot be provided")
	default:
		s.pages.Internal(w, r, "saml request policy", err)
	}
}

// samlErrorResponse posts a SAML error Response (status Responder/second) to the SP.
func (s *Server) samlErrorResponse(w http.ResponseWriter, r *http.Request, areq *samlidp.AuthnRequest, second, message string) {
	resp, err := s.SAML.BuildErrorResponse(r.Context(), areq, second, message)
	if err != nil {
		s.pages.Internal(w, r, "saml error response", err)
		return
	}
	s.Logger.InfoContext(r.Context(), "saml error response", "sp", areq.SP.ID, "status", second)
	s.pages.FormPost(w, r, resp.URL, samlFields(resp))
}

func samlFields(resp *samlidp.Response) url.Values {
	v := url.Values{"SAMLResponse": {resp.SAMLResponse}}
	if resp.RelayState != "" {
		v.Set("RelayState", resp.RelayState)
	}
	return v
}

// samlRedirectError is redirectError's hook: an OAuth error in a SAML flow becomes a SAML
// error Response to the SP's registered ACS (NoPassive for login/interaction/consent
// required, RequestDenied for access_denied, AuthnFailed otherwise). It reports whether the
// request was a SAML one.
func (s *Server) samlRedirectError(w http.ResponseWriter, r *http.Request, redirectURI, responseMode, state string, e *oauth2err.Error) bool {
	if !strings.HasPrefix(responseMode, samlModePrefix) {
		return false
	}
	areq, ok := s.samlRequestFrom(responseMode, redirectURI, state)
	if !ok || e.NoRedirect {
		s.pages.Error(w, r, http.StatusBadRequest, "Sign-in failed", "The sign-in could not be completed.", "Go back to the application and try again.")
		return true
	}
	second := samlidp.StatusAuthnFailed
	switch e.Code {
	case oauth2err.LoginRequired, oauth2err.InteractionRequired, oauth2err.ConsentRequired:
		second = samlidp.StatusNoPassive
	case oauth2err.AccessDenied:
		second = samlidp.StatusRequestDenied
	}
	msg := ""
	if e.Code != oauth2err.ServerError {
		msg = e.Description
	}
	s.samlErrorResponse(w, r, areq, second, msg)
	return true
}

// samlDeniedData is saml_denied.html's data: why the user may not use the SP, and the form
// that returns a RequestDenied Response to it.
type samlDeniedData struct {
	pages.Page
	SPName, Reason, Action string
	Fields                 map[string]string
}

// samlDenied is the access-denied page of a SAML flow, with a button that returns to the SP
// with a SAML Response whose status is RequestDenied. The flow has deleted the request.
func (s *Server) samlDenied(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, reason string) bool {
	areq, ok := s.samlRequestOf(ar)
	if !ok {
		s.pages.Expired(w, r)
		return true
	}
	resp, err := s.SAML.BuildErrorResponse(r.Context(), areq, samlidp.StatusRequestDenied, "access denied")
	if err != nil {
		s.pages.Internal(w, r, "saml error response", err)
		return true
	}
	fields := map[string]string{}
	for k := range samlFields(resp) {
		fields[k] = samlFields(resp).Get(k)
	}
	s.pages.Render(w, r, http.StatusForbidden, "saml_denied.html", samlDeniedData{
		Page: s.pages.Page("Access denied"), SPName: areq.SP.DisplayName(), Reason: reason, Action: resp.URL, Fields: fields,
	})
	return true
}

// samlParticipant records that an SP got an assertion in an SSO session (for single logout).
type samlParticipant struct {
	SP           string `json:"sp"`
	NameID       string `json:"name_id"`
	NameIDFormat string `json:"name_id_format"`
	SessionIndex string `json:"session_index"`
}

func participantKey(sessionID, spID string) string {
	return "saml-participant/" + sessionID + "/" + spID
}

func sessionIndexKey(idx string) string { return "saml-session-index/" + idx }

// blobs returns the storage's BlobStore, or nil.
func (s *Server) blobs() storage.BlobStore {
	b, _ := s.Storage.(storage.BlobStore)
	return b
}

// samlFinish ends a SAML flow: build the assertion from the identity through the claims
// pipeline and post the Response to the SP's ACS. The flow has consumed the request (one
// assertion per AuthnRequest).
func (s *Server) samlFinish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) {
	ctx := r.Context()
	areq, ok := s.samlRequestOf(ar)
	if !ok {
		s.pages.Expired(w, r)
		return
	}
	sp := areq.SP
	cl := s.Claims.Claims(ar.ClientID, ar.Identity, ar.Auth, ar.Scopes)
	subj := samlidp.Subject{
		UserID: ar.Identity.Subject, Email: ar.Identity.Email, EmailVerified: ar.Identity.EmailVerified,
		Attributes: samlAttributes(sp, ar.Identity, cl), AuthTime: ar.Auth.AuthTime,
		AuthnContext: samlidp.AuthnContextClass(ar.Auth.ACR, ar.Auth.AMR), SessionIndex: samlidp.SessionIndex(ar.SessionID),
		RemoteAddr: httpx.ClientIP(r, s.TrustedProxies),
	}
	resp, err := s.SAML.BuildResponse(ctx, areq, subj)
	if errors.Is(err, samlidp.ErrNoEmail) || errors.Is(err, samlidp.ErrInvalidNameIDPolicy) || errors.Is(err, samlidp.ErrNoAuthnContext) {
		s.samlPolicyError(w, r, areq, err) // the request is consumed already
		return
	}
	if err != nil {
		s.pages.Internal(w, r, "saml response", err)
		return
	}
	s.recordParticipant(ctx, ar.SessionID, samlParticipant{SP: sp.ID, NameID: resp.NameID, NameIDFormat: resp.NameIDFormat, SessionIndex: subj.SessionIndex})
	s.Logger.InfoContext(r.Context(), "saml assertion issued", "sp", sp.ID, "sub", ar.Identity.Subject, "connector", ar.Auth.ConnectorID, "in_response_to", areq.ID)
	s.pages.FormPost(w, r, resp.URL, samlFields(resp))
}

// samlAttributes renders the SP's attributes (its attributes map, or the defaults) from the
// claims. An SP may sign users in by their email, so an unverified email never leaves as an
// attribute: attributes of the email claim are left out, and an email_verified attribute
// (added when the map has none) tells the SP why.
func samlAttributes(sp *samlidp.ServiceProvider, id storage.Identity, cl map[string]any) []samlidp.Attribute {
	attrMap := sp.Attributes
	if len(attrMap) == 0 {
		attrMap = defaultSAMLAttributes
	}
	claimsMapped := slices.Collect(maps.Values(attrMap))
	_, nameTaken := attrMap["email_verified"]
	if slices.Contains(claimsMapped, "email") && !slices.Contains(claimsMapped, "email_verified") && !nameTaken {
		attrMap = maps.Clone(attrMap)
		attrMap["email_verified"] = "email_verified"
	}
	var attrs []samlidp.Attribute
	for _, n := range slices.Sorted(maps.Keys(attrMap)) {
		claim := attrMap[n]
		if claim == "email" && !id.EmailVerified {
			continue
		}
		vals := claimValues(claim, id, cl)
		if claim == "email_verified" && id.Email != "" {
			vals = []string{strconv.FormatBool(id.EmailVerified)}
		}
		if len(vals) > 0 {
			attrs = append(attrs, samlidp.Attribute{Name: n, Values: vals})
		}
	}
	return attrs
}

// recordParticipant remembers the SP's NameID in the session, until the session's absolute
// expiry, so that single logout can reach it. Without a BlobStore single logout still ends
// the Gatehouse session, but cannot notify the other SPs.
func (s *Server) recordParticipant(ctx context.Context, sessionID string, p samlParticipant) {
	bs := s.blobs()
	if bs == nil || sessionID == "" {
		return
	}
	expiry := s.Now().Add(24 * time.Hour)
	if sess, err := s.Storage.GetSession(ctx, sessionID); err == nil {
		expiry = sess.AbsoluteExpiry
	}
	b, _ := json.Marshal(p) //nolint:errcheck // a plain struct of strings: cannot fail
	if err := bs.PutBlob(ctx, storage.Blob{Key: participantKey(sessionID, p.SP), Value: b, Expiry: expiry}); err != nil {
		s.Logger.WarnContext(ctx, "record saml participant", "err", err)
		return
	}
	if err := bs.PutBlob(ctx, storage.Blob{Key: sessionIndexKey(p.SessionIndex), Value: []byte(sessionID), Expiry: expiry}); err != nil {
		s.Logger.WarnContext(ctx, "record saml session index", "err", err)
	}
	if _, err := bs.DeleteExpiredBlobs(ctx, s.Now()); err != nil {
		s.Logger.WarnContext(ctx, "delete expired blobs", "err", err)
	}
}

// participant loads an SP's participation in a session.
func (s *Server) participant(ctx context.Context, sessionID, spID string) (samlParticipant, bool) {
	var p samlParticipant
	bs := s.blobs()
	if bs == nil {
		return p, false
	}
	b, err := bs.GetBlob(ctx, participantKey(sessionID, spID), s.Now())
	if err != nil || json.Unmarshal(b, &p) != nil {
		return p, false
	}
	return p, true
}

// claimValues renders one claim as SAML attribute values: "sub" is the internal user ID;
// other claims come from the pipeline's output, then from the identity's extra claims.
func claimValues(claim string, id storage.Identity, cl map[string]any) []string {
	var v any
	switch claim {
	case "sub":
		v = id.Subject
	default:
		var ok bool
		if v, ok = cl[claim]; !ok {
			v = id.Extra[claim]
		}
	}
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	case []string:
		return slices.Clone(x)
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	case bool:
		return []string{strconv.FormatBool(x)}
	default:
		if b, err := json.Marshal(x); err == nil {
			return []string{strings.Trim(string(b), `"`)}
		}
		return []string{fmt.Sprint(x)}
	}
}

// handleSAMLSLO is the single logout service: LogoutRequests from SPs (the SSO session ends,
// for OIDC clients too, and the SP gets a signed LogoutResponse), and LogoutResponses from
// SPs during a logout Gatehouse started.
func (s *Server) handleSAMLSLO(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	}
	if samlidp.IsLogoutResponse(r) {
		s.continueSAMLLogout(w, r)
		return
	}
	lr, err := s.SAML.ParseLogoutRequest(r)
	if err != nil {
		s.samlRefused(w, r, err)
		return
	}
	ctx := r.Context()
	ended := false
	// The browser's own session, when the SP's NameID is the one it got in that session.
	if sess, has, err := s.Sessions.Current(ctx, r); err == nil && has {
		if p, ok := s.participant(ctx, sess.ID, lr.SP.ID); ok && p.NameID == lr.NameID {
			if _, _, err := s.Sessions.End(ctx, w, r); err != nil {
				s.Logger.WarnContext(r.Context(), "end session", "err", err)
			} else if err := s.sessionEnded(ctx, sess, s.flowHash(r)); err != nil {
				s.Logger.ErrorContext(r.Context(), "end session", "err", err)
			}
			s.forgetParticipants(ctx, sess.ID)
			ended = true
		}
	}
	// A cross-site POST carries no SSO cookie: find the session by the SessionIndex.
	if !ended && s.blobs() != nil {
		for _, idx := range lr.SessionIndexes {
			sid, err := s.blobs().GetBlob(ctx, sessionIndexKey(idx), s.Now())
			if err != nil {
				continue
			}
			if p, ok := s.participant(ctx, string(sid), lr.SP.ID); ok && p.NameID == lr.NameID {
				sess, gerr := s.Storage.GetSession(ctx, string(sid))
				if gerr != nil && !errors.Is(gerr, storage.ErrNotFound) {
					s.Logger.ErrorContext(r.Context(), "load session for single logout", "err", gerr)
				}
				if err := s.Storage.DeleteSession(ctx, string(sid)); err != nil && !errors.Is(err, storage.ErrNotFound) {
					s.Logger.WarnContext(r.Context(), "end session", "err", err)
				} else if gerr == nil {
					if err := s.sessionEnded(ctx, sess, ""); err != nil {
						s.Logger.ErrorContext(r.Context(), "end session", "err", err)
					}
				}
				s.forgetParticipants(ctx, string(sid))
				ended = true
			}
		}
	}
	s.Logger.InfoContext(r.Context(), "saml single logout", "sp", lr.SP.ID, "session_ended", ended)
	w.Header().Set("Content-Security-Policy", samlFormCSP())
	if err := lr.WriteResponse(w, true); err != nil {
		s.pages.Internal(w, r, "saml logout response", err)
	}
}

// samlFormCSP allows exactly the two inline scripts of crewjam's auto-submitting
// LogoutResponse form.
func samlFormCSP() string {
	h := func(js string) string {
		sum := sha256.Sum256([]byte(js))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return "default-src 'none'; script-src " +
		h("document.getElementById('SAMLSubmitButton').style.visibility='hidden';") + " " +
		h("document.getElementById('SAMLResponseForm').submit();") +
		"; frame-ancestors 'none'; base-uri 'none'"
}

// deleteBlob deletes bookkeeping that expires on its own anyway; a failure is logged.
func (s *Server) deleteBlob(ctx context.Context, bs storage.BlobStore, key string) {
	if err := bs.DeleteBlob(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.Logger.WarnContext(ctx, "delete saml bookkeeping; it expires on its own", "key", key, "err", err)
	}
}

// forgetParticipants drops a session's SAML participant records.
func (s *Server) forgetParticipants(ctx context.Context, sessionID string) {
	bs := s.blobs()
	if bs == nil {
		return
	}
	for _, sp := range s.SAML.ServiceProviders() {
		if p, ok := s.participant(ctx, sessionID, sp.ID); ok {
			s.deleteBlob(ctx, bs, sessionIndexKey(p.SessionIndex))
		}
		s.deleteBlob(ctx, bs, participantKey(sessionID, sp.ID))
	}
}

// samlLogoutState is an IdP-initiated logout in progress across SPs.
type samlLogoutState struct {
	Remaining []samlParticipant `json:"remaining"`
	Return    string            `json:"return"`
}

// samlLogoutFanout is handleLogout's hook after the session ended: SAML SPs that got an
// assertion in the session and have a single logout service are sent a LogoutRequest, one
// after the other through the browser (front-channel), before the browser goes where the
// OIDC logout would have sent it (returnTo, or the signed-out page). It reports whether it
// took over the response.
func (s *Server) samlLogoutFanout(w http.ResponseWriter, r *http.Request, sess storage.Session, returnTo string) bool {
	if s.SAML == nil || s.blobs() == nil {
		return false
	}
	ctx := r.Context()
	var st samlLogoutState
	for _, sp := range s.SAML.ServiceProviders() {
		if p, ok := s.participant(ctx, sess.ID, sp.ID); ok && s.SAML.HasSLO(ctx, sp) {
			st.Remaining = append(st.Remaining, p)
		}
	}
	s.forgetParticipants(ctx, sess.ID)
	if len(st.Remaining) == 0 {
		return false
	}
	st.Return = returnTo
	s.nextSAMLLogout(w, r, opaque.ID(), st)
	return true
}

// nextSAMLLogout sends the next LogoutRequest of a logout, or ends it.
func (s *Server) nextSAMLLogout(w http.ResponseWriter, r *http.Request, stateID string, st samlLogoutState) {
	ctx := r.Context()
	for len(st.Remaining) > 0 {
		p := st.Remaining[0]
		st.Remaining = st.Remaining[1:]
		sp := s.SAML.ServiceProvider(p.SP)
		if sp == nil {
			continue
		}
		b, _ := json.Marshal(st) //nolint:errcheck // a plain struct of strings: cannot fail
		if err := s.blobs().PutBlob(ctx, storage.Blob{Key: "saml-logout/" + stateID, Value: b, Expiry: s.Now().Add(samlLogoutTTL)}); err != nil {
			s.Logger.WarnContext(r.Context(), "store saml logout state", "err", err)
			break
		}
		msg, err := s.SAML.LogoutRequestMessage(ctx, sp, p.NameID, p.NameIDFormat, p.SessionIndex, stateID)
		if err != nil {
			s.Logger.WarnContext(r.Context(), "saml logout request", "sp", sp.ID, "err", err)
			continue
		}
		s.Logger.InfoContext(r.Context(), "saml logout request sent", "sp", sp.ID)
		if msg.Fields != nil {
			vals := url.Values{}
			for k, v := range msg.Fields {
				vals.Set(k, v)
			}
			s.pages.FormPost(w, r, msg.URL, vals)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, msg.URL, http.StatusSeeOther)
		return
	}
	s.deleteBlob(ctx, s.blobs(), "saml-logout/"+stateID)
	if st.Return != "" {
		http.Redirect(w, r, st.Return, http.StatusSeeOther)
		return
	}
	if err := s.Templates.Render(w, http.StatusOK, "loggedout.html", s.pages.Page("Signed out")); err != nil {
		s.Logger.ErrorContext(r.Context(), "render loggedout", "err", err)
	}
}

// continueSAMLLogout takes an SP's LogoutResponse and goes on with the logout it answers.
func (s *Server) continueSAMLLogout(w http.ResponseWriter, r *http.Request) {
	info, err := samlidp.ReadLogoutResponse(r)
	bs := s.blobs()
	if err != nil || bs == nil || info.RelayState == "" || len(info.RelayState) > 64 {
		s.pages.Error(w, r, http.StatusBadRequest, "Signed out", "You are signed out of Gatehouse.", "You can close this window.")
		return
	}
	b, err := bs.GetBlob(r.Context(), "saml-logout/"+info.RelayState, s.Now())
	var st samlLogoutState
	if err != nil || json.Unmarshal(b, &st) != nil {
		s.pages.Error(w, r, http.StatusOK, "Signed out", "You are signed out of Gatehouse.", "You can close this window.")
		return
	}
	if !info.Success {
		s.Logger.WarnContext(r.Context(), "saml service provider did not confirm the logout", "in_response_to", info.InResponseTo)
	}
	s.nextSAMLLogout(w, r, info.RelayState, st)
}

// samlLogoutReturn is where a logout ends: the post-logout redirect URI (with state), or "".
func samlLogoutReturn(postLogout, state string) string {
	if postLogout == "" {
		return ""
	}
	u, err := url.Parse(postLogout)
	if err != nil {
		return ""
	}
	if state != "" {
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// samlResponder ends the login flows of SAML service providers (until broker/samlidp owns
// its endpoints).
type samlResponder struct{ s *Server }

// Finish posts the assertion to the SP.
func (p samlResponder) Finish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) {
	p.s.samlFinish(w, r, ar)
}

// Fail posts an error Response to the SP.
func (p samlResponder) Fail(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, err *oauth2err.Error) {
	p.s.samlRedirectError(w, r, ar.RedirectURI, ar.ResponseMode, ar.State, err)
}

// Deny shows the access-denied page with a way back to the SP.
func (p samlResponder) Deny(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, reason string) {
	p.s.samlDenied(w, r, ar, reason)
}
