package broker

import (
	"net/http"

	"github.com/gatehouse-id/gatehouse/broker/authflow"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// MFA configures the second-factor step. A nil *MFA in Deps turns it off: every policy is
// off. amr/acr are normalized either way (Connector.TrustUpstreamMFA).
type MFA struct {
	Service *mfa.Service
	// Connectors holds each connector's policy by connector ID (missing: off).
	Connectors map[string]MFAConnector
	// Clients holds each client's policy by client ID (missing: off).
	Clients map[string]mfa.Policy
}

// MFAConnector is one connector's MFA settings. Whether its upstream's multi-factor claim
// counts is Connector.TrustUpstreamMFA.
type MFAConnector struct {
	Policy mfa.Policy
}

// flowSettings is the login flow's view of the MFA settings (nil: off).
func (m *MFA) flowSettings() *authflow.MFA {
	if m == nil {
		return nil
	}
	conns := make(map[string]mfa.Policy, len(m.Connectors))
	for id, c := range m.Connectors {
		conns[id] = c.Policy
	}
	return &authflow.MFA{Service: m.Service, Connectors: conns, Clients: m.Clients}
}

// mfaPageCSP is the page CSP of the MFA and account pages: the QR code is a data: URL and the
// WebAuthn helper is a same-origin script.
const mfaPageCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"

// mfaRoutes mounts the self-service pages (the MFA step of a login is broker/authflow's).
func (s *Server) mfaRoutes(m *route.Mux) {
	m.Browser("GET /account", s.handleAccountPage)
	m.Browser("POST /account", s.handleAccountSubmit)
}

// mfaUser is the mfa package's view of an identity. The name labels the user's authenticator
// entries (TOTP account, WebAuthn user name) and finds enrolments in `gatehouse mfa reset`, so
// an email serves as the name only when it is verified.
func mfaUser(id storage.Identity) mfa.User {
	name := id.PreferredUsername
	if name == "" && id.EmailVerified {
		name = id.Email
	}
	if name == "" {
		name = id.Subject
	}
	return mfa.User{ID: id.Subject, Name: name, DisplayName: id.Name}
}

// reserveMFA reserves a second-factor attempt for the user and client IP. On false it has
// answered: with tooMany (after setting Retry-After) when a budget is spent, or with an error
// page when the budgets could not be read.
func (s *Server) reserveMFA(w http.ResponseWriter, r *http.Request, userID, ip string, tooMany func()) (mfa.Attempt, bool) {
	attempt, ok, err := s.MFA.Service.Reserve(r.Context(), userID, ip)
	if err != nil {
		s.pages.Internal(w, r, "mfa rate limit", err)
		return mfa.Attempt{}, false
	}
	if !ok {
		s.Logger.WarnContext(r.Context(), "mfa rate limited", "sub", userID, "ip", ip)
		w.Header().Set("Retry-After", "900")
		tooMany()
	}
	return attempt, ok
}

// mfaSucceeded gives a passed attempt back and clears the user's failures.
func (s *Server) mfaSucceeded(r *http.Request, attempt mfa.Attempt) {
	if err := s.MFA.Service.Succeeded(r.Context(), attempt); err != nil {
		s.Logger.WarnContext(r.Context(), "mfa rate limit: refund", "err", err)
	}
}

// mfaCodesData shows new recovery codes once: with Action, a form continues the login;
// otherwise a link goes to Done.
type mfaCodesData struct {
	pages.Page
	Codes                     []string
	Action, ReqID, CSRF, Done string
}
