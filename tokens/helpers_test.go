package tokens

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/storage"
)

const testIssuer = "https://id.example.com"

// memKeyStore is an in-memory storage.KeyStore; UpdateSigningKeys is exclusive.
type memKeyStore struct {
	mu      sync.Mutex
	keys    []storage.SigningKey
	writes  int   // committed UpdateSigningKeys calls
	calls   int   // UpdateSigningKeys calls
	lists   int   // ListSigningKeys calls
	listErr error // returned by ListSigningKeys when set
}

func (s *memKeyStore) ListSigningKeys(context.Context) ([]storage.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	if s.listErr != nil {
		return nil, s.listErr
	}
	return slices.Clone(s.keys), nil
}

func (s *memKeyStore) UpdateSigningKeys(_ context.Context, fn func([]storage.SigningKey) ([]storage.SigningKey, bool, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	next, changed, err := fn(slices.Clone(s.keys))
	if err != nil {
		return err
	}
	if changed {
		s.keys = slices.Clone(next)
		s.writes++
	}
	return nil
}

func (s *memKeyStore) snapshot() []storage.SigningKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.keys)
}

func (s *memKeyStore) counts() (writes, calls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes, s.calls
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestMinter returns an initialised KeyManager over store and a Minter using clock.
func newTestMinter(tb testing.TB, store storage.KeyStore, clock *fakeClock, opt KeyOptions) (*KeyManager, *Minter) {
	tb.Helper()
	opt.Now = clock.Now
	opt.Logger = testLogger(tb)
	km := NewKeyManager(store, opt)
	if err := km.Init(tb.Context()); err != nil {
		tb.Fatalf("Init: %v", err)
	}
	return km, &Minter{Issuer: testIssuer, Keys: km, Now: clock.Now}
}

// header parses a token's protected header without verifying it.
func header(tb testing.TB, token string) jose.Header {
	tb.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA, jose.HS256})
	if err != nil {
		tb.Fatalf("parse %q: %v", token, err)
	}
	return jws.Signatures[0].Protected
}

// signRaw signs payload with the stored private key rec and the given header options.
func signRaw(tb testing.TB, rec storage.SigningKey, alg jose.SignatureAlgorithm, kid string, opts *jose.SignerOptions, payload []byte) string {
	tb.Helper()
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(rec.PrivateJWK); err != nil {
		tb.Fatal(err)
	}
	jwk.KeyID = kid
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jwk}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func mustErrorIs(tb testing.TB, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Fatalf("error = %v, want %v", err, target)
	}
}
