package tokens

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/gatehouse-id/gatehouse/internal/tracing"

	"github.com/go-jose/go-jose/v4"
)

// Verification errors. Every error from VerifyAccessToken and VerifyIDTokenHint wraps
// ErrInvalidToken; an expired access token also wraps ErrTokenExpired.
var (
	ErrInvalidToken = errors.New("tokens: invalid token")
	ErrTokenExpired = errors.New("tokens: token expired")
)

// maxTokenSize bounds the tokens the verifiers will parse.
const maxTokenSize = 16 << 10

// clockTolerance is how far a requested expiry may exceed MaxTokenLifetime (callers compute
// Expiry from their own reading of the clock).
const clockTolerance = time.Minute

// Minter signs ID tokens and access tokens with the KeyManager's current key and verifies
// tokens against its published keys. Its fields are set once; it is safe for concurrent use.
type Minter struct {
	// Issuer is the iss of every token minted and the only one accepted.
	Issuer string
	// Keys supplies the signing and verification keys.
	Keys *KeyManager
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// IDToken is what SignIDToken puts in an OpenID Connect ID token.
type IDToken struct {
	Subject, Audience, AuthorizedParty, Nonce, SessionID, ACR string

	AMR      []string
	AuthTime time.Time
	Expiry   time.Time
	// AccessToken, when non-empty, is hashed into at_hash.
	AccessToken string
	// Code, when non-empty, is hashed into c_hash.
	Code string
	// Claims are the claims of the granted scopes (email, email_verified, name,
	// preferred_username, groups, ...). Registered claim names that SignIDToken sets itself
	// (iss, sub, aud, exp, iat, nbf, jti, auth_time, nonce, acr, amr, azp, sid, at_hash,
	// c_hash) are ignored here.
	Claims map[string]any
}

// AccessToken is the content of an RFC 9068 JWT access token.
type AccessToken struct {
	ID                                    string // jti
	Subject, ClientID, GrantID, SessionID string
	Scopes                                []string
	// Audience defaults to [ClientID].
	Audience []string
	AuthTime time.Time
	Expiry   time.Time
	// JKT, when set, binds the token to a DPoP key (RFC 9449 6.1): the claim cnf.jkt, the
	// key's RFC 7638 thumbprint.
	JKT string
	// Act is the actor of a delegated token (RFC 8693 4.1): who acts for Subject; nested
	// actors are the earlier ones in the chain. Nil: no act claim.
	Act *Actor
}

// Actor is an RFC 8693 act claim: the acting party's sub, and the actor before it.
type Actor struct {
	Subject string `json:"sub"`
	Act     *Actor `json:"act,omitempty"`
}

// Depth is the number of actors in the chain (0 for nil).
func (a *Actor) Depth() int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}

// IDTokenHint is what VerifyIDTokenHint extracts from an id_token_hint.
type IDTokenHint struct {
	Subject, Audience, SessionID string
	Expiry                       time.Time
}

// idClaims is the fixed part of an ID token's payload.
type idClaims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      string   `json:"aud"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	AuthTime int64    `json:"auth_time,omitempty"`
	Nonce    string   `json:"nonce,omitempty"`
	Acr      string   `json:"acr,omitempty"`
	Amr      []string `json:"amr,omitempty"`
	Azp      string   `json:"azp,omitempty"`
	Sid      string   `json:"sid,omitempty"`
	AtHash   string   `json:"at_hash,omitempty"`
	CHash    string   `json:"c_hash,omitempty"`
}

// atClaims is an access token's payload.
type atClaims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      audience `json:"aud"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf,omitempty"`
	Jti      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	Sid      string   `json:"sid,omitempty"`
	Gid      string   `json:"gid,omitempty"`
	Act      *Actor   `json:"act,omitempty"`
	Cnf      *cnf     `json:"cnf,omitempty"`
}

// cnf is the confirmation claim (RFC 7800) of a sender-constrained access token.
type cnf struct {
	JKT string `json:"jkt,omitempty"`
}

// hintClaims is what VerifyIDTokenHint reads.
type hintClaims struct {
	Iss string   `json:"iss"`
	Sub string   `json:"sub"`
	Aud audience `json:"aud"`
	Azp string   `json:"azp"`
	Exp int64    `json:"exp"`
	Sid string   `json:"sid"`
}

// reservedIDClaim reports whether SignIDToken sets the claim itself, so that it is never
// taken from IDToken.Claims.
func reservedIDClaim(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "acr", "amr",
		"azp", "sid", "at_hash", "c_hash":
		return true
	}
	return false
}

// audience is the aud claim: one string when it has one member, else an array.
type audience []string

// MarshalJSON writes a single audience as a string.
func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string or an array of strings.
func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

func (m *Minter) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// signerAt returns the signing key at now and checks expiry against MaxTokenLifetime.
func (m *Minter) signerAt(now, expiry time.Time) (*signingKey, error) {
	s := m.Keys.state.Load()
	if s == nil || len(s.signers) == 0 {
		return nil, ErrNotReady
	}
	if expiry.IsZero() {
		return nil, errors.New("tokens: token has no expiry")
	}
	if expiry.Sub(now) > m.Keys.opt.MaxTokenLifetime+clockTolerance {
		return nil, fmt.Errorf("tokens: token lifetime %v exceeds the keys' MaxTokenLifetime %v",
			expiry.Sub(now).Round(time.Second), m.Keys.opt.MaxTokenLifetime)
	}
	return s.signer(now), nil
}

// SignIDToken signs an OpenID Connect ID token (header typ "JWT", kid set; iat = Now).
func (m *Minter) SignIDToken(t IDToken) (string, error) {
	return m.SignIDTokenContext(context.Background(), t)
}

// SignIDTokenContext is SignIDToken recording the signature as a span "tokens.sign" under
// the span in ctx.
func (m *Minter) SignIDTokenContext(ctx context.Context, t IDToken) (string, error) {
	if t.Subject == "" || t.Audience == "" {
		return "", errors.New("tokens: ID token needs a subject and an audience")
	}
	now := m.now()
	key, err := m.signerAt(now, t.Expiry)
	if err != nil {
		return "", err
	}
	c := idClaims{
		Iss: m.Issuer, Sub: t.Subject, Aud: t.Audience, Exp: t.Expiry.Unix(), Iat: now.Unix(),
		Nonce: t.Nonce, Acr: t.ACR, Amr: t.AMR, Azp: t.AuthorizedParty, Sid: t.SessionID,
	}
	if !t.AuthTime.IsZero() {
		c.AuthTime = t.AuthTime.Unix()
	}
	if t.AccessToken != "" {
		c.AtHash = halfHash(key.halfHash, t.AccessToken)
	}
	if t.Code != "" {
		c.CHash = halfHash(key.halfHash, t.Code)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("tokens: marshal ID token: %w", err)
	}
	if payload, err = appendClaims(payload, t.Claims); err != nil {
		return "", err
	}
	defer tracing.Span(ctx, "tokens.sign", attribute.String("gatehouse.token", "id_token"))()
	return sign(key.idSigner, payload)
}

// appendClaims merges extra (minus reserved names) into the JSON object payload.
func appendClaims(payload []byte, extra map[string]any) ([]byte, error) {
	if len(extra) == 0 {
		return payload, nil
	}
	for k := range extra {
		if reservedIDClaim(k) {
			filtered := make(map[string]any, len(extra))
			for k, v := range extra {
				if !reservedIDClaim(k) {
					filtered[k] = v
				}
			}
			extra = filtered
			break
		}
	}
	if len(extra) == 0 {
		return payload, nil
	}
	more, err := json.Marshal(extra)
	if err != nil {
		return nil, fmt.Errorf("tokens: marshal ID token claims: %w", err)
	}
	// payload is {...} with at least iss; more is {...} and not empty.
	out := make([]byte, 0, len(payload)+len(more))
	out = append(out, payload[:len(payload)-1]...)
	out = append(out, ',')
	out = append(out, more[1:]...)
	return out, nil
}

// SignAccessToken mints an RFC 9068 JWT access token: header typ "at+jwt"; claims iss, sub,
// aud, exp, iat, jti, client_id, scope (space-separated), auth_time, sid, cnf.jkt for a
// DPoP-bound token, and the private claim gid (the grant ID).
func (m *Minter) SignAccessToken(t AccessToken) (string, error) {
	return m.SignAccessTokenContext(context.Background(), t)
}

// SignAccessTokenContext is SignAccessToken recording the signature as a span "tokens.sign"
// under the span in ctx.
func (m *Minter) SignAccessTokenContext(ctx context.Context, t AccessToken) (string, error) {
	if t.ID == "" || t.Subject == "" || t.ClientID == "" {
		return "", errors.New("tokens: access token needs an ID, a subject and a client ID")
	}
	now := m.now()
	key, err := m.signerAt(now, t.Expiry)
	if err != nil {
		return "", err
	}
	aud := t.Audience
	if len(aud) == 0 {
		aud = []string{t.ClientID}
	}
	c := atClaims{
		Iss: m.Issuer, Sub: t.Subject, Aud: aud, Exp: t.Expiry.Unix(), Iat: now.Unix(),
		Jti: t.ID, ClientID: t.ClientID, Scope: strings.Join(t.Scopes, " "),
		Sid: t.SessionID, Gid: t.GrantID, Act: t.Act,
	}
	if !t.AuthTime.IsZero() {
		c.AuthTime = t.AuthTime.Unix()
	}
	if t.JKT != "" {
		c.Cnf = &cnf{JKT: t.JKT}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("tokens: marshal access token: %w", err)
	}
	defer tracing.Span(ctx, "tokens.sign", attribute.String("gatehouse.token", "access_token"))()
	return sign(key.atSigner, payload)
}

func sign(s jose.Signer, payload []byte) (string, error) {
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("tokens: sign: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("tokens: serialize: %w", err)
	}
	return tok, nil
}

// halfHash is the OIDC at_hash / c_hash of v: the base64url left half of its hash.
func halfHash(h crypto.Hash, v string) string {
	d := h.New()
	d.Write([]byte(v))
	sum := d.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// VerifyAccessToken verifies an access token minted by SignAccessToken: the signature
// against the published key named by kid, alg (only the algorithms of the stored keys and
// the algorithm of that key), typ at+jwt, iss == Issuer, and exp/nbf against Now with no
// leeway. Errors wrap ErrInvalidToken.
func (m *Minter) VerifyAccessToken(token string) (AccessToken, error) {
	payload, err := m.verify(token, true)
	if err != nil {
		return AccessToken{}, err
	}
	var c atClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return AccessToken{}, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	if c.Iss != m.Issuer {
		return AccessToken{}, fmt.Errorf("%w: issuer %q", ErrInvalidToken, c.Iss)
	}
	if c.Exp == 0 || c.Sub == "" || c.ClientID == "" {
		return AccessToken{}, fmt.Errorf("%w: missing exp, sub or client_id", ErrInvalidToken)
	}
	now := m.now()
	exp := time.Unix(c.Exp, 0).UTC()
	if !now.Before(exp) {
		return AccessToken{}, fmt.Errorf("%w: %w", ErrInvalidToken, ErrTokenExpired)
	}
	if c.Nbf != 0 && now.Before(time.Unix(c.Nbf, 0)) {
		return AccessToken{}, fmt.Errorf("%w: not valid yet", ErrInvalidToken)
	}
	at := AccessToken{
		ID: c.Jti, Subject: c.Sub, ClientID: c.ClientID, GrantID: c.Gid, SessionID: c.Sid,
		Scopes: strings.Fields(c.Scope), Audience: c.Aud, Expiry: exp, Act: c.Act,
	}
	if c.Cnf != nil {
		at.JKT = c.Cnf.JKT
	}
	if c.AuthTime != 0 {
		at.AuthTime = time.Unix(c.AuthTime, 0).UTC()
	}
	return at, nil
}

// VerifyIDTokenHint verifies an id_token_hint: the signature against a published key and
// iss == Issuer. Expiry is not enforced (OIDC RP-initiated logout allows expired hints); a
// token typed at+jwt is refused. Errors wrap ErrInvalidToken.
func (m *Minter) VerifyIDTokenHint(token string) (IDTokenHint, error) {
	payload, err := m.verify(token, false)
	if err != nil {
		return IDTokenHint{}, err
	}
	var c hintClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return IDTokenHint{}, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	if c.Iss != m.Issuer {
		return IDTokenHint{}, fmt.Errorf("%w: issuer %q", ErrInvalidToken, c.Iss)
	}
	if c.Sub == "" || len(c.Aud) == 0 {
		return IDTokenHint{}, fmt.Errorf("%w: missing sub or aud", ErrInvalidToken)
	}
	h := IDTokenHint{Subject: c.Sub, Audience: c.Aud[0], SessionID: c.Sid}
	if len(c.Aud) > 1 && c.Azp != "" {
		h.Audience = c.Azp
	}
	if c.Exp != 0 {
		h.Expiry = time.Unix(c.Exp, 0).UTC()
	}
	return h, nil
}

// verify checks a compact JWS against the published keys and its typ header, and returns
// the payload.
func (m *Minter) verify(token string, access bool) ([]byte, error) {
	if len(token) > maxTokenSize {
		return nil, fmt.Errorf("%w: too large", ErrInvalidToken)
	}
	s := m.Keys.state.Load()
	if s == nil || len(s.algs) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrNotReady)
	}
	jws, err := jose.ParseSignedCompact(token, s.algs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	key := s.verify[h.KeyID]
	if key == nil {
		return nil, fmt.Errorf("%w: unknown kid %q", ErrInvalidToken, h.KeyID)
	}
	if jose.SignatureAlgorithm(h.Algorithm) != key.alg {
		return nil, fmt.Errorf("%w: alg %q does not match key %q", ErrInvalidToken, h.Algorithm, h.KeyID)
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if access {
		if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
			return nil, fmt.Errorf("%w: typ %q is not at+jwt", ErrInvalidToken, typ)
		}
	} else if typ != "" && !strings.EqualFold(typ, "JWT") {
		return nil, fmt.Errorf("%w: typ %q is not JWT", ErrInvalidToken, typ)
	}
	payload, err := jws.Verify(key.pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return payload, nil
}
