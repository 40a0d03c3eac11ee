package clients

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Bounds on client assertions (RFC 7523 3).
const (
	maxAssertion = 8 << 10
	// maxAssertionLife is how far in the future an assertion's exp may lie: a longer-lived
	// assertion would have to be remembered (jti) for that long.
	maxAssertionLife = 5 * time.Minute
	// assertionSkew is the clock skew allowed on exp, nbf and iat.
	assertionSkew = 30 * time.Second
	maxJTI        = 256
)

// assertionClaims are the claims of a client assertion (RFC 7523 3).
type assertionClaims struct {
	Iss string        `json:"iss"`
	Sub string        `json:"sub"`
	Aud audienceClaim `json:"aud"`
	Exp *json.Number  `json:"exp"`
	Nbf *json.Number  `json:"nbf"`
	Iat *json.Number  `json:"iat"`
	Jti string        `json:"jti"`
}

// audienceClaim is aud: a string or an array of strings.
type audienceClaim []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *audienceClaim) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}

// ErrAssertion is the cause of every refused assertion (logged; the client gets
// invalid_client).
var ErrAssertion = errors.New("client assertion refused")

// parseAssertion decodes a client assertion without verifying it: a compact JWS with one
// signature in an accepted algorithm, and its claims. The claims tell which client's keys
// must verify it.
func parseAssertion(raw string) (*jose.JSONWebSignature, assertionClaims, error) {
	var c assertionClaims
	if len(raw) > maxAssertion {
		return nil, c, fmt.Errorf("%w: longer than %d bytes", ErrAssertion, maxAssertion)
	}
	algs := make([]jose.SignatureAlgorithm, len(AssertionAlgorithms))
	for i, a := range AssertionAlgorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		return nil, c, fmt.Errorf("%w: %v", ErrAssertion, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, c, fmt.Errorf("%w: want one signature", ErrAssertion)
	}
	d := json.NewDecoder(strings.NewReader(string(jws.UnsafePayloadWithoutVerification())))
	d.UseNumber()
	if err := d.Decode(&c); err != nil {
		return nil, c, fmt.Errorf("%w: claims: %v", ErrAssertion, err)
	}
	return jws, c, nil
}

// numericDate reads a NumericDate claim (seconds, possibly fractional).
func numericDate(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// checkClaims applies RFC 7523 3 to the claims of a client's assertion: iss = sub = the
// client, aud names the issuer or the token endpoint (exactly), exp present and at most
// maxAssertionLife ahead, nbf and iat not in the future, jti present.
func checkClaims(c assertionClaims, clientID string, audiences []string, now time.Time) (exp time.Time, err error) {
	switch {
	case c.Iss != clientID || c.Sub != clientID:
		return exp, fmt.Errorf("%w: iss and sub must both be the client_id", ErrAssertion)
	case !slices.ContainsFunc(c.Aud, func(a string) bool { return slices.Contains(audiences, a) }):
		return exp, fmt.Errorf("%w: aud %q names neither the issuer nor the token endpoint", ErrAssertion, []string(c.Aud))
	case c.Jti == "" || len(c.Jti) > maxJTI:
		return exp, fmt.Errorf("%w: jti missing or longer than %d", ErrAssertion, maxJTI)
	}
	exp, ok := numericDate(c.Exp)
	switch {
	case !ok:
		return exp, fmt.Errorf("%w: exp missing or malformed", ErrAssertion)
	case !now.Before(exp.Add(assertionSkew)):
		return exp, fmt.Errorf("%w: expired", ErrAssertion)
	case exp.After(now.Add(maxAssertionLife + assertionSkew)):
		return exp, fmt.Errorf("%w: exp more than %s ahead", ErrAssertion, maxAssertionLife)
	}
	if nbf, ok := numericDate(c.Nbf); c.Nbf != nil && (!ok || nbf.After(now.Add(assertionSkew))) {
		return exp, fmt.Errorf("%w: not yet valid (nbf)", ErrAssertion)
	}
	if iat, ok := numericDate(c.Iat); c.Iat != nil && (!ok || iat.After(now.Add(assertionSkew))) {
		return exp, fmt.Errorf("%w: issued in the future (iat)", ErrAssertion)
	}
	return exp, nil
}

// AssertionVerifier authenticates private_key_jwt clients (RFC 7523 2.2, OIDC Core 9) for
// every endpoint that authenticates clients (token, introspection, revocation, device
// authorization).
type AssertionVerifier struct {
	Clients *Registry
	// Issuer is the issuer URL: an assertion's aud must be it or its token endpoint.
	Issuer string
	// Replay records the jti of every accepted assertion until it expires, shared by
	// replicas (storage.ConsumeOnce).
	Replay storage.BlobStore
	Now    func() time.Time
}

// Verify authenticates a private_key_jwt client: the assertion's signature by one of the
// client's keys (a kid the cached set lacks makes a jwks_uri be fetched again), its claims,
// and its jti consumed in storage, once across replicas, before the client is accepted.
// Errors wrap ErrAssertion, except storage failures (oauth2err server errors).
func (v *AssertionVerifier) Verify(ctx context.Context, cr Credentials) (*Client, error) {
	jws, claims, err := parseAssertion(cr.Assertion)
	if err != nil {
		return nil, err
	}
	if cr.ID != "" && cr.ID != claims.Sub {
		return nil, fmt.Errorf("%w: client_id differs from the assertion's sub", ErrAssertion)
	}
	c := v.Clients.Get(claims.Sub)
	if c == nil || c.AuthMethod != AuthPrivateKeyJWT || c.Keys == nil {
		return nil, fmt.Errorf("%w: %q is not a private_key_jwt client", ErrAssertion, claims.Sub)
	}
	if err := verifyAssertionSignature(ctx, c, jws); err != nil {
		return nil, err
	}
	now := v.Now()
	exp, err := checkClaims(claims, c.ID, v.audiences(), now)
	if err != nil {
		return nil, err
	}
	if v.Replay == nil {
		return nil, oauth2err.Server(errors.New("clients: no replay store for client assertions"))
	}
	sum := sha256.Sum256([]byte(c.ID + "\x00" + claims.Jti))
	key := "client-assertion-jti:" + hex.EncodeToString(sum[:])
	switch err := storage.ConsumeOnce(ctx, v.Replay, key, exp.Add(assertionSkew), now); {
	case errors.Is(err, storage.ErrReused):
		return nil, fmt.Errorf("%w: jti already used", ErrAssertion)
	case err != nil:
		return nil, oauth2err.Server(err)
	}
	return c, nil
}

// audiences are the aud values an assertion may name: the issuer and the token endpoint
// (also at the other endpoints: RFC 7523 3 names the authorization server).
func (v *AssertionVerifier) audiences() []string {
	return []string{v.Issuer, strings.TrimSuffix(v.Issuer, "/") + "/token"}
}

// verifyAssertionSignature verifies the assertion with the client's key of its kid (any key
// of the algorithm's type when it names none), fetching the key set again once when the kid
// is unknown.
func verifyAssertionSignature(ctx context.Context, c *Client, jws *jose.JSONWebSignature) error {
	hdr := jws.Signatures[0].Header
	for _, fresh := range []bool{false, true} {
		set, err := c.Keys.Keys(ctx, fresh)
		if err != nil {
			return fmt.Errorf("%w: client keys: %v", ErrAssertion, err)
		}
		keys := set.Keys
		if hdr.KeyID != "" {
			keys = set.Key(hdr.KeyID)
		}
		for _, k := range keys {
			if k.Algorithm != "" && k.Algorithm != hdr.Algorithm {
				continue
			}
			if _, err := jws.Verify(k.Key); err == nil {
				return nil
			}
		}
		if hdr.KeyID == "" || len(keys) > 0 {
			break // the kid was known (or none was named): a refetch cannot help
		}
	}
	return fmt.Errorf("%w: signature not verified by the client's keys (kid %q)", ErrAssertion, hdr.KeyID)
}

// AssertionError is a refused assertion: server errors as they are, everything
// else as invalid_client.
func AssertionError(err error) error {
	var e *oauth2err.Error
	if errors.As(err, &e) {
		return e
	}
	return oauth2err.New(oauth2err.InvalidClient, "client authentication failed").WithCause(err)
}
