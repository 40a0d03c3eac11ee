//go:build peers && pkcs11

package pkcs11_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/testpeer"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
	"github.com/gatehouse-id/gatehouse/tokens"
	"github.com/gatehouse-id/gatehouse/tokens/pkcs11"
)

const (
	redirectURI = "http://127.0.0.1:9999/cb"
	clientID    = "app"
	secret      = "app-secret-0123456789abcdef"
	password    = "alice-password"
)

func signingConfig(h *testpeer.SoftHSM, alg string) config.Signing {
	return config.Signing{Algorithm: alg, Backend: config.SigningBackendPKCS11, Module: h.Module,
		TokenLabel: h.TokenLabel, PinFile: h.PINFile, KeyLabel: "gatehouse"}
}

func openBackend(t *testing.T, cfg config.Signing) *pkcs11.Backend {
	t.Helper()
	b, err := pkcs11.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

func logger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	return slog.New(slog.DiscardHandler)
}

// TestOpenErrors: every way opening the token fails at start has its own message.
func TestOpenErrors(t *testing.T) {
	h := testpeer.NewSoftHSM(t, "gh-open")
	wrongPIN := filepath.Join(t.TempDir(), "wrong-pin")
	if err := os.WriteFile(wrongPIN, []byte("0000-wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notALibrary := filepath.Join(t.TempDir(), "not-a-library.so")
	if err := os.WriteFile(notALibrary, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		adjust func(*config.Signing)
		want   string
	}{
		{"module missing", func(c *config.Signing) { c.Module = "/usr/lib/nonexistent/libpkcs11.so" },
			"signing.module: PKCS#11 module /usr/lib/nonexistent/libpkcs11.so: stat"},
		{"not a library", func(c *config.Signing) { c.Module = notALibrary }, "signing.module: " + notALibrary + " is not a loadable PKCS#11 library"},
		{"pin file missing", func(c *config.Signing) { c.PinFile = "/nonexistent/pin" }, "signing.pin_file: cannot read the token PIN"},
		{"token label unknown", func(c *config.Signing) { c.TokenLabel = "no-such-token" }, `signing.token_label: no PKCS#11 token labelled "no-such-token"`},
		{"wrong PIN", func(c *config.Signing) { c.PinFile = wrongPIN }, `signing.pin_file: the token "gh-open" refused the PIN in ` + wrongPIN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := signingConfig(h, tokens.AlgES256)
			tt.adjust(&cfg)
			b, err := pkcs11.Open(cfg)
			if err == nil {
				b.Close() //nolint:errcheck // the test fails anyway
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant %q", err, tt.want)
			}
		})
	}
	b := openBackend(t, signingConfig(h, tokens.AlgES256)) // and the right PIN opens
	if b.Name() != tokens.BackendPKCS11 {
		t.Errorf("Name = %q", b.Name())
	}
}

// TestKeysGeneratedInToken: keys are generated in the token, sensitive and never
// extractable (read back through PKCS#11), storage holds only a reference and the public
// key, and tokens signed in the token verify against the JWKS.
func TestKeysGeneratedInToken(t *testing.T) {
	h := testpeer.NewSoftHSM(t, "gh-keys")
	for _, alg := range []string{tokens.AlgES256, tokens.AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			b := openBackend(t, signingConfig(h, alg))
			store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gh.db"), logger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			km := tokens.NewKeyManager(store, tokens.KeyOptions{Algorithm: alg, Backend: b, Logger: logger(t)})
			if err := km.Init(t.Context()); err != nil {
				t.Fatal(err)
			}
			keys, err := store.ListSigningKeys(t.Context())
			if err != nil || len(keys) != 1 {
				t.Fatalf("keys = %v, %v", keys, err)
			}
			k := keys[0]
			ref, ok := tokens.ParseKeyRef(k.PrivateJWK)
			if !ok || ref.Backend != tokens.BackendPKCS11 || ref.Label != "gatehouse-"+k.ID {
				t.Errorf("stored private half = %s, want a reference labelled gatehouse-%s", k.PrivateJWK, k.ID)
			}
			var jwk map[string]any
			if err := json.Unmarshal(k.PublicJWK, &jwk); err != nil {
				t.Fatal(err)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := jwk[private]; ok {
					t.Errorf("public JWK carries %q", private)
				}
			}
			p, err := b.Protection(k)
			if err != nil {
				t.Fatal(err)
			}
			if want := (pkcs11.Protection{Sensitive: true, Extractable: false, NeverExtractable: true, Private: true}); p != want {
				t.Errorf("protection = %+v, want %+v", p, want)
			}
			m := &tokens.Minter{Issuer: "https://id.example.com", Keys: km}
			now := time.Now()
			id, err := m.SignIDToken(tokens.IDToken{Subject: "s", Audience: "a", Expiry: now.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := km.JWKS()
			verifyJWS(t, body, id, k.ID)
			if hint, err := m.VerifyIDTokenHint(id); err != nil || hint.Subject != "s" {
				t.Errorf("VerifyIDTokenHint = %+v, %v", hint, err)
			}
		})
	}
}

func verifyJWS(t *testing.T, jwks []byte, token, kid string) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if got := jws.Signatures[0].Protected.KeyID; got != kid {
		t.Errorf("kid = %s, want %s", got, kid)
	}
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("kid %s not in the JWKS %s", kid, jwks)
	}
	if _, err := jws.Verify(keys[0]); err != nil {
		t.Errorf("verify: %v", err)
	}
}

// gatehouse is a brokertest Gatehouse signing in the token, with alice and a client.
func gatehouse(t *testing.T, h *testpeer.SoftHSM, alg, dir string) *brokertest.Server {
	t.Helper()
	return gatehouseOn(t, h, alg, dir, nil)
}

// gatehouseOn is gatehouse on the given storage (nil: SQLite in dir).
func gatehouseOn(t *testing.T, h *testpeer.SoftHSM, alg, dir string, st *config.Storage) *brokertest.Server {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return brokertest.New(t, brokertest.Options{Dir: dir, Logger: logger(t), Config: func(cfg *config.Config) {
		if st != nil {
			cfg.Storage = *st
		}
		cfg.Signing = signingConfig(h, alg)
		cfg.Users = []config.User{{Username: "alice", Email: "alice@example.com", EmailVerified: true, PasswordHash: string(hash)}}
		cfg.Clients = []config.Client{{ID: clientID, Secret: secret, Name: "App", RedirectURIs: []string{redirectURI},
			GrantTypes: []string{"authorization_code", "refresh_token"}}}
	}})
}

// relyingParty is go-oidc + x/oauth2 against s, verifying with s's clock.
type relyingParty struct {
	oauth    oauth2.Config
	provider *oidc.Provider
	idt      *oidc.IDTokenVerifier
	at       *oidc.IDTokenVerifier // signature, issuer and expiry of access tokens (RFC 9068)
}

func newRP(t *testing.T, s *brokertest.Server) *relyingParty {
	t.Helper()
	p, err := oidc.NewProvider(t.Context(), s.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	return &relyingParty{
		oauth: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: redirectURI,
			Scopes: []string{oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess}},
		provider: p,
		idt:      p.Verifier(&oidc.Config{ClientID: clientID, Now: s.Clock.Now, SupportedSigningAlgs: []string{"ES256", "RS256"}}),
		at:       p.Verifier(&oidc.Config{SkipClientIDCheck: true, Now: s.Clock.Now, SupportedSigningAlgs: []string{"ES256", "RS256"}}),
	}
}

// login runs the code flow and verifies the ID token and the access token with go-oidc
// against s's JWKS; it returns the raw tokens and the kid that signed them.
func (rp *relyingParty) login(t *testing.T, s *brokertest.Server) (idToken, accessToken, kid string) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	to := s.Login(s.Browser(), rp.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "alice", password, true)
	u, err := url.Parse(to)
	if err != nil {
		t.Fatal(err)
	}
	code := u.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", to)
	}
	tok, err := rp.oauth.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idToken, _ = tok.Extra("id_token").(string)
	idt, err := rp.idt.Verify(t.Context(), idToken)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Subject == "" {
		t.Error("ID token without sub")
	}
	if _, err := rp.at.Verify(t.Context(), tok.AccessToken); err != nil {
		t.Fatalf("verify access token: %v", err)
	}
	ui, err := rp.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil || ui.Email != "alice@example.com" {
		t.Fatalf("userinfo with the access token = %+v, %v", ui, err)
	}
	return idToken, tok.AccessToken, kidOf(t, idToken)
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Protected.KeyID
}

// rotate advances every replica's clock by d and refreshes all of them concurrently until
// their background key generations are done.
func rotate(t *testing.T, d time.Duration, replicas ...*brokertest.Server) {
	t.Helper()
	for _, s := range replicas {
		s.Clock.Advance(d)
	}
	for range 3 {
		var wg sync.WaitGroup
		errs := make([]error, len(replicas))
		for i, s := range replicas {
			wg.Go(func() { errs[i] = s.Keys.Refresh(context.Background()) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for _, s := range replicas {
			s.Keys.AwaitGeneration()
		}
	}
}

func jwksOf(t *testing.T, s *brokertest.Server) string {
	t.Helper()
	resp, err := http.Get(s.Issuer + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /keys: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// TestBrokerSignsInToken: a Gatehouse with signing.backend pkcs11 issues ID and access
// tokens go-oidc verifies against its JWKS; a rotation (forced with the clock) makes a new
// key in the token, and tokens of the old key keep verifying until they expire.
func TestBrokerSignsInToken(t *testing.T) {
	h := testpeer.NewSoftHSM(t, "gh-broker")
	for _, alg := range []string{tokens.AlgES256, tokens.AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			s := gatehouse(t, h, alg, "")
			rp := newRP(t, s)
			oldID, oldAT, oldKid := rp.login(t, s)
			if s.Keys.Algorithms()[0] != alg {
				t.Errorf("algorithms = %v", s.Keys.Algorithms())
			}

			rotate(t, 24*time.Hour, s)          // rotation due: a successor is published
			rotate(t, time.Hour+time.Second, s) // the successor signs
			_, _, newKid := rp.login(t, s)
			if newKid == oldKid {
				t.Fatalf("still signing with %s after rotation", oldKid)
			}
			jwks := jwksOf(t, s)
			if !strings.Contains(jwks, oldKid) || !strings.Contains(jwks, newKid) {
				t.Errorf("JWKS %s lacks the old or new kid", jwks)
			}
			// Tokens of the retired key still verify (go-oidc fetches the new JWKS).
			s.Clock.Advance(-(25*time.Hour + time.Second)) // back to when they were issued
			if _, err := newRP(t, s).idt.Verify(t.Context(), oldID); err != nil {
				t.Errorf("old ID token after rotation: %v", err)
			}
			if _, err := rp.at.Verify(t.Context(), oldAT); err != nil {
				t.Errorf("old access token after rotation: %v", err)
			}
			s.Clock.Advance(25*time.Hour + time.Second)

			// Once its tokens have expired the old key leaves the JWKS and the token.
			keys, err := s.Store.ListSigningKeys(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			old := keys[slices.IndexFunc(keys, func(k storage.SigningKey) bool { return k.ID == oldKid })]
			rotate(t, 25*time.Hour, s)
			if strings.Contains(jwksOf(t, s), oldKid) {
				t.Errorf("expired key %s still published", oldKid)
			}
			if objects := tokenKeyIDs(t, h); slices.Contains(objects, oldKid) {
				t.Errorf("expired key %s still in the token (%v)", oldKid, objects)
			}
			b := openBackend(t, signingConfig(h, alg))
			if _, err := b.Signer(old); err == nil {
				t.Errorf("the destroyed key %s still signs", oldKid)
			}
		})
	}
}

// tokenKeyIDs lists the CKA_IDs of the key pairs in the token.
func tokenKeyIDs(t *testing.T, h *testpeer.SoftHSM) []string {
	t.Helper()
	ctx, err := crypto11.Configure(&crypto11.Config{Path: h.Module, TokenLabel: h.TokenLabel, Pin: h.PIN})
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	pairs, err := ctx.FindAllKeyPairs()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range pairs {
		a, err := ctx.GetAttribute(p, crypto11.CkaId)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, string(a.Value))
	}
	slices.Sort(ids)
	return ids
}

// TestReplicasRotateOnce: three Gatehouses (assembly.Build) on one database (a SQLite file;
// the peers PostgreSQL) and one token rotate concurrently: one new key results, every
// replica publishes the same JWKS and signs with the new key (finding its private half in
// the token by CKA_ID), and the token holds exactly the keys storage lists (the losers'
// successors are destroyed).
func TestReplicasRotateOnce(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var st *config.Storage
			if backend == "postgres" {
				st = &config.Storage{Type: "postgres", Config: config.StorageConfig{DSN: tempPostgresDatabase(t)}}
			}
			replicasRotateOnce(t, st)
		})
	}
}

func replicasRotateOnce(t *testing.T, st *config.Storage) {
	h := testpeer.NewSoftHSM(t, "gh-replicas")
	dir := t.TempDir()
	var replicas []*brokertest.Server
	for range 3 {
		replicas = append(replicas, gatehouseOn(t, h, tokens.AlgES256, dir, st))
	}
	stored := func() []string {
		t.Helper()
		keys, err := replicas[0].Store.ListSigningKeys(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		slices.Sort(ids)
		return ids
	}
	first := stored()
	if len(first) != 1 {
		t.Fatalf("%d keys after three starts, want 1", len(first))
	}
	for _, s := range replicas {
		if _, _, kid := newRP(t, s).login(t, s); kid != first[0] {
			t.Errorf("replica signs with %s, want %s", kid, first[0])
		}
	}

	rotate(t, 24*time.Hour, replicas...)
	keys := stored()
	if len(keys) != 2 {
		t.Fatalf("keys after concurrent rotation = %v, want the first and one new", keys)
	}
	if got := tokenKeyIDs(t, h); !slices.Equal(got, keys) {
		t.Errorf("token holds %v, storage lists %v", got, keys)
	}
	jwks := jwksOf(t, replicas[0])
	for i, s := range replicas[1:] {
		if got := jwksOf(t, s); got != jwks {
			t.Errorf("replica %d publishes\n%s\nreplica 0\n%s", i+1, got, jwks)
		}
	}
	next := keys[0]
	if next == first[0] {
		next = keys[1]
	}
	rotate(t, time.Hour+time.Second, replicas...) // the publish delay passes
	for i, s := range replicas {
		if _, _, kid := newRP(t, s).login(t, s); kid != next {
			t.Errorf("replica %d signs with %s, want the new key %s", i, kid, next)
		}
	}
}

// TestTokenLosesKeyAtRuntime: when the token cannot sign (here: the signing key destroyed
// behind Gatehouse's back), the token endpoint answers server_error and issues nothing, the
// refresh token is not spent, and verification (userinfo) keeps working from the public keys.
func TestTokenLosesKeyAtRuntime(t *testing.T) {
	h := testpeer.NewSoftHSM(t, "gh-runtime")
	s := gatehouse(t, h, tokens.AlgES256, "")
	rp := newRP(t, s)
	verifier := oauth2.GenerateVerifier()
	to := s.Login(s.Browser(), rp.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "alice", password, true)
	u, err := url.Parse(to)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rp.oauth.Exchange(t.Context(), u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.Store.ListSigningKeys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys = %v, %v", keys, err)
	}
	b := openBackend(t, signingConfig(h, tokens.AlgES256))
	if err := b.Destroy(keys[0]); err != nil {
		t.Fatal(err)
	}

	refresh := func() (int, string) {
		t.Helper()
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		req, err := http.NewRequest(http.MethodPost, s.Issuer+"/token", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(clientID, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	for range 2 { // the refresh token is not spent by a failed attempt
		if code, body := refresh(); code != http.StatusInternalServerError || !strings.Contains(body, `"server_error"`) || strings.Contains(body, "access_token") {
			t.Fatalf("refresh with the key gone: %d %s", code, body)
		}
	}
	if rt, err := s.Store.GetRefreshToken(t.Context(), opaque.Hash(tok.RefreshToken)); err != nil || !rt.UsedAt.IsZero() {
		t.Errorf("refresh token after failed refreshes: %+v, %v", rt, err)
	}
	ui, err := rp.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil || ui.Email != "alice@example.com" {
		t.Errorf("userinfo with the key gone from the token = %+v, %v", ui, err)
	}
}

// BenchmarkSignIDToken signs one ID token with a key in SoftHSM2 (token) and with a key in
// storage (memory), per algorithm: what a signature through PKCS#11 costs.
//
//	CGO_ENABLED=1 go test -tags 'peers pkcs11' -run '^$' -bench SignIDToken ./tokens/pkcs11/
func BenchmarkSignIDToken(b *testing.B) {
	h := testpeer.NewSoftHSM(b, "gh-bench")
	for _, alg := range []string{tokens.AlgES256, tokens.AlgRS256} {
		for _, where := range []string{"token", "memory"} {
			b.Run(alg+"/"+where, func(b *testing.B) {
				var backend tokens.KeyBackend = tokens.StorageBackend{}
				if where == "token" {
					hsm, err := pkcs11.Open(signingConfig(h, alg))
					if err != nil {
						b.Fatal(err)
					}
					defer hsm.Close() //nolint:errcheck // the benchmark is over
					backend = hsm
				}
				store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "gh.db"), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer store.Close() //nolint:errcheck // the benchmark is over
				km := tokens.NewKeyManager(store, tokens.KeyOptions{Algorithm: alg, Backend: backend})
				if err := km.Init(context.Background()); err != nil {
					b.Fatal(err)
				}
				m := &tokens.Minter{Issuer: "https://id.example.com", Keys: km}
				exp := time.Now().Add(time.Hour)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if _, err := m.SignIDToken(tokens.IDToken{Subject: "s", Audience: "a", Expiry: exp}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// tempPostgresDatabase creates a database on the peers PostgreSQL (scripts/peers/postgres.sh)
// for the test and drops it after; it fails when no server is running.
func tempPostgresDatabase(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Fatal("GATEHOUSE_TEST_POSTGRES_DSN is not set: run scripts/test-all.sh, or `source scripts/peers/postgres.sh && start_test_postgres`")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	var rb [6]byte
	if _, err := rand.Read(rb[:]); err != nil {
		t.Fatal(err)
	}
	name := "pkcs11_" + hex.EncodeToString(rb[:])
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close(ctx) //nolint:errcheck // the test is over
	})
	u.Path = "/" + name
	return u.String()
}
