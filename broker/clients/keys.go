package clients

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// AssertionAlgorithms are the signature algorithms accepted in private_key_jwt client
// assertions, as discovery advertises them.
var AssertionAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// KeySource gives the public keys that verify a private_key_jwt client's assertions.
type KeySource interface {
	// Keys returns the client's key set. fresh asks for the newest set (an assertion named a
	// kid the cached set lacks); a source may still answer from its cache when it fetched
	// very recently.
	Keys(ctx context.Context, fresh bool) (jose.JSONWebKeySet, error)
}

// StaticKeys is a key set configured inline (jwks).
type StaticKeys struct{ Set jose.JSONWebKeySet }

// Keys returns the configured set.
func (s StaticKeys) Keys(context.Context, bool) (jose.JSONWebKeySet, error) {
	return s.Set, nil
}

// maxJWKS bounds a fetched key set.
const maxJWKS = 256 << 10

// RemoteKeys is a key set published at a jwks_uri: fetched on first use with a bounded
// client, cached for TTL, and fetched again early when an assertion names an unknown kid
// (at most once per MinRefetch, so unknown kids cannot make Gatehouse hammer the URL).
type RemoteKeys struct {
	URL        string
	HTTP       *http.Client
	TTL        time.Duration
	MinRefetch time.Duration
	Now        func() time.Time

	mu      sync.Mutex
	set     jose.JSONWebKeySet
	fetched time.Time
}

// Keys returns the cached set, fetching it when it is missing, stale, or (fresh) older
// than MinRefetch.
func (k *RemoteKeys) Keys(ctx context.Context, fresh bool) (jose.JSONWebKeySet, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.Now()
	age := now.Sub(k.fetched)
	if !k.fetched.IsZero() && age < k.TTL && (!fresh || age < k.MinRefetch) {
		return k.set, nil
	}
	set, err := k.fetch(ctx)
	if err != nil {
		if !k.fetched.IsZero() && age < k.TTL {
			return k.set, nil // keep the cached set when a refetch fails
		}
		return jose.JSONWebKeySet{}, err
	}
	k.set, k.fetched = set, now
	return set, nil
}

func (k *RemoteKeys) fetch(ctx context.Context) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.URL, nil)
	if err != nil {
		return set, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := k.HTTP.Do(req)
	if err != nil {
		return set, fmt.Errorf("fetching jwks_uri: %w", err)
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	if resp.StatusCode != http.StatusOK {
		return set, fmt.Errorf("fetching jwks_uri: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS+1))
	if err != nil {
		return set, fmt.Errorf("reading jwks_uri: %w", err)
	}
	if len(body) > maxJWKS {
		return set, fmt.Errorf("jwks_uri answered more than %d bytes", maxJWKS)
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return set, fmt.Errorf("jwks_uri is not a JSON Web Key Set: %w", err)
	}
	pub := set.Keys[:0]
	for _, key := range set.Keys {
		if key.Valid() && key.IsPublic() && (key.Use == "" || key.Use == "sig") {
			pub = append(pub, key)
		}
	}
	set.Keys = pub
	return set, nil
}
