package broker_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/connectors"
)

// negotiateConn is a test double of a Kerberos-capable password connector (the LDAP
// connector with a kerberos block, tested against Samba's KDC in connectors/ldap): it wraps
// the local connector and accepts the header "Negotiate good" as a ticket of alice.
type negotiateConn struct {
	connectors.PasswordConnector
	calls int
}

func (n *negotiateConn) Negotiate(_ context.Context, _ connectors.Scopes, authz string) (connectors.Upstream, error) {
	n.calls++
	switch authz {
	case "Negotiate good":
		return connectors.Upstream{Subject: "alice", Username: "alice", Email: "alice@example.com", AuthTime: time.Now().Add(-time.Hour)}, nil
	case "Negotiate expired":
		return connectors.Upstream{}, connectors.ErrBadCredentials
	case "Negotiate disabled":
		return connectors.Upstream{}, &connectors.DeniedError{Reason: "this account disabled may not sign in"}
	}
	return connectors.Upstream{}, connectors.ErrNoTicket
}

// TestNegotiateLoginPage proves the broker's side of Kerberos desktop SSO: the password form
// page of a NegotiateConnector challenges with 401 "WWW-Authenticate: Negotiate" and the form
// as body; the retry with a ticket signs the user in without the form; a refused ticket
// shows the form without a new challenge (no loop) and signs no one in; a denied account is
// denied; prompt=login never takes a ticket. Before the change the page was a plain 200 form.
func TestNegotiateLoginPage(t *testing.T) {
	nc := &negotiateConn{}
	e := newEnvOpts(t, envOpts{connectors: func(cs []connset.Slot) []connset.Slot {
		nc.PasswordConnector = cs[0].Conn.(connectors.PasswordConnector)
		return []connset.Slot{{Info: cs[0].Info, Conn: nc}}
	}})
	tests := []struct {
		name      string
		extra     url.Values
		authz     string
		status    int
		challenge bool // WWW-Authenticate: Negotiate
		form      bool // the password form is in the body
		signedIn  bool // redirected on towards the client
		calls     int  // Negotiate calls: the first visit and the retry
	}{
		{"no ticket", nil, "", http.StatusUnauthorized, true, true, false, 1},
		{"NTLM or another scheme", nil, "Basic YWxpY2U6eA==", http.StatusUnauthorized, true, true, false, 2},
		{"ticket", nil, "Negotiate good", http.StatusSeeOther, false, false, true, 2},
		{"refused ticket", nil, "Negotiate expired", http.StatusOK, false, true, false, 2},
		{"disabled account", nil, "Negotiate disabled", http.StatusForbidden, false, false, false, 2},
		{"prompt=login", url.Values{"prompt": {"login"}}, "Negotiate good", http.StatusOK, false, true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc.calls = 0
			b := e.browser()
			authURL := e.authURLFor(tt.extra)
			p, at := b.follow(e, b.get(authURL), authURL)
			if p.status == http.StatusUnauthorized && tt.authz != "" {
				req, _ := http.NewRequest(http.MethodGet, at, nil)
				req.Header.Set("Authorization", tt.authz)
				p = b.do(req)
			} else if tt.authz != "" && tt.calls > 0 {
				t.Fatalf("first visit: status %d, want the 401 challenge", p.status)
			}
			if p.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", p.status, tt.status, p.body)
			}
			if got := p.header.Get("WWW-Authenticate") == "Negotiate"; got != tt.challenge {
				t.Errorf("WWW-Authenticate %q, challenge want %v", p.header.Get("WWW-Authenticate"), tt.challenge)
			}
			if got := strings.Contains(p.body, `name="password"`); got != tt.form {
				t.Errorf("form shown %v, want %v", got, tt.form)
			}
			if tt.signedIn {
				final, _ := b.follow(e, p, at)
				if !strings.HasPrefix(final.location, otherRedirect) || !strings.Contains(final.location, "code=") {
					t.Errorf("not signed in: %d %q", final.status, final.location)
				}
			}
			if nc.calls != tt.calls {
				t.Errorf("Negotiate called %d times, want %d", nc.calls, tt.calls)
			}
		})
	}
}
