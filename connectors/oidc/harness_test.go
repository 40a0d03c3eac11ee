package oidc_test

// An in-process Gatehouse broker for the oidc connector's end-to-end tests, built the way
// broker/harness_test.go builds one: SQLite storage, signing keys, sessions, claims, the web
// templates, oidc connectors and, optionally, the local password connector.

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
	"github.com/gatehouse-id/gatehouse/tokens"
	"github.com/gatehouse-id/gatehouse/web"
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

type userSource struct{ store storage.LocalUserStore }

func (u userSource) LookupUser(ctx context.Context, name string) (local.User, error) {
	lu, err := u.store.GetLocalUser(ctx, name)
	if err != nil {
		return local.User{}, local.ErrUserNotFound
	}
	return local.User{Username: lu.Username, Email: lu.Email, Name: lu.Name, PasswordHash: lu.PasswordHash, EmailVerified: lu.EmailVerified, Groups: lu.Groups}, nil
}

// startGatehouse builds a broker on the unstarted srv, starts it, and stops it when the test
// ends. The issuer is srv.URL unless issuer is set (another name for the same listener, so
// that two brokers on 127.0.0.1 keep separate cookies). withLocal adds the local connector with user "alice"
// (password localPassword, groups admins and staff).
func startGatehouse(t *testing.T, srv *httptest.Server, issuer string, ups []upstreamConn, cls []clients.Client, withLocal bool) *gatehouse {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gh.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv.Start()
	t.Cleanup(srv.Close)
	if issuer == "" {
		issuer = srv.URL
	}
	keys := tokens.NewKeyManager(store, tokens.KeyOptions{Algorithm: "RS256", MaxTokenLifetime: time.Hour, Now: time.Now, Logger: logger})
	if err := keys.Init(ctx); err != nil {
		t.Fatal(err)
	}
	var conns []connset.Slot
	if withLocal {
		hash, err := bcrypt.GenerateFromPassword([]byte(localPassword), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		if err := store.CreateLocalUser(ctx, storage.LocalUser{Username: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice Local",
			Groups: []string{"admins", "staff"}, PasswordHash: string(hash), CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		lc := &local.Config{Users: userSource{store}, Cost: bcrypt.MinCost}
		info := connectors.Info{ID: "local", Type: "local", Name: "Local accounts"}
		c, err := lc.Open(ctx, info, connectors.Deps{Logger: logger, Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, connset.Slot{Info: info, Conn: c})
	}
	for _, u := range ups {
		info := connectors.Info{ID: u.id, Type: "oidc", Name: "Upstream " + u.id}
		c, err := u.cfg.Open(ctx, info, connectors.Deps{Logger: logger, CallbackURL: issuer + "/callback/" + u.id, Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, connset.Slot{Info: info, Conn: c, TrustUpstreamMFA: u.trustMFA})
	}
	reg, err := clients.NewRegistry(cls)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Deps{
		Issuer: issuer, Storage: store, Keys: keys, Minter: &tokens.Minter{Issuer: issuer, Keys: keys, Now: time.Now},
		Sessions: &session.Manager{Store: store, Idle: time.Hour, Absolute: 24 * time.Hour, Now: time.Now},
		Claims:   &claims.Normalizer{Links: store, Now: time.Now}, Clients: reg,
		Connectors: conns, Templates: tmpl, Logger: logger, Now: time.Now,
		Lifetimes: broker.Lifetimes{IDToken: time.Hour, AccessToken: time.Hour, AuthCode: time.Minute, AuthRequest: 30 * time.Minute,
			RefreshAbsolute: 720 * time.Hour, RefreshIdle: 168 * time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = b.Handler()
	return &gatehouse{issuer: issuer, srv: srv, store: store}
}
