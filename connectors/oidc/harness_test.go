package oidc_test

// An in-process Gatehouse broker for the oidc connector's end-to-end tests, built by
// broker/brokertest (the constructor serve uses): oidc connectors and, optionally, the local
// password connector.

import (
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/storage"
)

const (
	rpID          = "app"
	rpSecret      = "app-secret-0123456789abcdef"
	rpRedirect    = "http://127.0.0.1:9999/cb"
	localPassword = "correct horse battery staple"
)

// gatehouse is a running in-process broker.
type gatehouse struct {
	issuer string
	srv    *httptest.Server
	store  storage.Storage
}

// upstreamConn is an oidc connector of a test broker.
type upstreamConn struct {
	id  string
	cfg connectors.Config // an *oidc.Config, or another redirect connector's config
	// trustMFA is the connector's trust_upstream_mfa.
	trustMFA bool
}

// localHash is localPassword at bcrypt's minimum cost.
var localHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(localPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// startGatehouse builds a broker (brokertest: the constructor serve uses) on the unstarted
// srv, starts it, and stops it when the test ends. The issuer is srv.URL unless issuer is set
// (another name for the same listener, so that two brokers on 127.0.0.1 keep separate
// cookies). withLocal adds the local connector with user "alice" (password localPassword,
// groups admins and staff).
func startGatehouse(t *testing.T, srv *httptest.Server, issuer string, ups []upstreamConn, cls []clients.Client, withLocal bool) *gatehouse {
	t.Helper()
	reg := connectors.Registry{}
	s := brokertest.New(t, brokertest.Options{
		Server: srv, Issuer: issuer,
		Registry: func(local.UserSource) connectors.Registry { return reg },
		Config: func(cfg *config.Config) {
			if withLocal {
				cfg.Users = []config.User{{Username: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice Local",
					Groups: []string{"admins", "staff"}, PasswordHash: localHash}}
			} else {
				cfg.Connectors = nil
			}
			for _, u := range ups {
				typ := "upstream-" + u.id // the test's own connector config, as it is
				reg[typ] = func() connectors.Config { return u.cfg }
				cfg.Connectors = append(cfg.Connectors, config.ConnectorBlock{Type: typ, ID: u.id, Name: "Upstream " + u.id, TrustUpstreamMFA: u.trustMFA})
			}
		},
		// The test's clients, as they are (secrets already hashed by clients.New).
		Deps: func(d *broker.Deps) {
			r, err := clients.NewRegistry(cls)
			if err != nil {
				t.Fatal(err)
			}
			d.Clients = r
		},
	})
	return &gatehouse{issuer: s.Issuer, srv: s.HTTP, store: s.Store}
}
