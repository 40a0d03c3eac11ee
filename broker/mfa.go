package broker

import (
	"github.com/gatehouse-id/gatehouse/broker/authflow"
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
	// Passkeys lets the connector's users sign in with a passkey alone and enrol one on
	// /account (connectors[].passkeys.enabled; local connectors only).
	Passkeys bool
}

// passkeys reports whether any connector offers passkeys.
func (m *MFA) passkeys() bool {
	if m == nil {
		return false
	}
	for _, c := range m.Connectors {
		if c.Passkeys {
			return true
		}
	}
	return false
}

// passkeyConnectors is the set of connectors that offer passkeys (nil: none).
func (m *MFA) passkeyConnectors() map[string]bool {
	var out map[string]bool
	if m == nil {
		return out
	}
	for id, c := range m.Connectors {
		if c.Passkeys {
			if out == nil {
				out = map[string]bool{}
			}
			out[id] = true
		}
	}
	return out
}

// needed reports whether an authentication lacks a second factor that the client's or the
// connector's policy requires (mfa.Needed; optional policies are left to the login step).
func (m *MFA) needed(clientID string, auth storage.Authentication) bool {
	if m == nil {
		return false
	}
	return mfa.Decide(mfa.Request{Connector: m.Connectors[auth.ConnectorID].Policy, Client: m.Clients[clientID]}, auth) == mfa.Needed
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
	return &authflow.MFA{Service: m.Service, Connectors: conns, Clients: m.Clients, Passkeys: m.passkeyConnectors()}
}
