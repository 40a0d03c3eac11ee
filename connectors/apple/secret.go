package apple

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// secretSource makes Apple client secrets: ES256 JWTs signed with the team key, cached and
// made again once half of their lifetime has passed (so a secret in use never expires).
type secretSource struct {
	teamID, keyID, clientID string
	key                     *ecdsa.PrivateKey
	ttl                     time.Duration
	now                     func() time.Time

	mu     sync.Mutex
	secret string
	iat    time.Time
}

// get returns a client secret valid for at least half of the configured lifetime.
func (s *secretSource) get() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.secret != "" && now.Before(s.iat.Add(s.ttl/2)) && !now.Before(s.iat) {
		return s.secret, nil
	}
	secret, err := ClientSecret(s.key, s.keyID, s.teamID, s.clientID, now, s.ttl)
	if err != nil {
		return "", err
	}
	s.secret, s.iat = secret, now
	return secret, nil
}

// ClientSecret is Apple's client secret: a JWT with header {alg: ES256, kid: keyID} and
// claims iss (team ID), iat, exp (iat + ttl), aud https://appleid.apple.com and sub (the
// Services ID), signed with the team's key.
func ClientSecret(key *ecdsa.PrivateKey, keyID, teamID, clientID string, now time.Time, ttl time.Duration) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keyID))
	if err != nil {
		return "", fmt.Errorf("apple client secret: %w", err)
	}
	payload, err := json.Marshal(map[string]any{
		"iss": teamID, "iat": now.Unix(), "exp": now.Add(ttl).Unix(), "aud": Issuer, "sub": clientID,
	})
	if err != nil {
		return "", fmt.Errorf("apple client secret: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("apple client secret: %w", err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("apple client secret: %w", err)
	}
	return out, nil
}
