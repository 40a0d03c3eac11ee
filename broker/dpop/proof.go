// Package dpop validates DPoP proofs (RFC 9449): the JWT a client sends in the DPoP header to
// prove possession of the key its tokens are bound to. Parse checks what the proof says by
// itself (typ, an asymmetric alg, a public jwk, the signature, the claims' shapes);
// Validator.Check checks it against the request (htm, htu, iat window, ath, nonce) and
// records its jti once across replicas. The token endpoint (broker/grants) and the resource
// endpoints (broker/userinfo) share it.
package dpop

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// MaxProofSize bounds the DPoP header value (a proof with a 4096-bit RSA key is about 1.5 KiB).
const MaxProofSize = 8 << 10

// maxJTI bounds the jti claim.
const maxJTI = 256

// Algorithms are the proof signature algorithms accepted (asymmetric only: never none or
// HS*), as discovery advertises them in dpop_signing_alg_values_supported.
var Algorithms = []string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// ErrInvalidProof is wrapped by every error about the proof itself.
var ErrInvalidProof = errors.New("dpop: invalid proof")

// ErrNonce is wrapped when the proof lacks the server's current nonce (use_dpop_nonce).
var ErrNonce = errors.New("dpop: nonce required")

// Proof is a DPoP proof whose signature and claim shapes are valid (Parse).
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the public key, base64url: what tokens are
	// bound to (cnf.jkt).
	JKT string
	// Algorithm is the proof's alg.
	Algorithm string
	JTI       string
	Method    string // htm
	URL       string // htu, as sent
	IssuedAt  time.Time
	// AccessTokenHash is ath (resource requests), empty when absent.
	AccessTokenHash string
	// Nonce is the server nonce the proof carries, empty when absent.
	Nonce string
}

// claims is a proof's payload.
type claims struct {
	JTI   *string  `json:"jti"`
	HTM   *string  `json:"htm"`
	HTU   *string  `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce *string  `json:"nonce"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidProof, fmt.Sprintf(format, args...))
}

// Header returns the request's single DPoP header value: "" when there is none, an error
// when there are several or the value is over MaxProofSize (RFC 9449 4.3, checks 1-2).
func Header(r *http.Request) (string, error) {
	vs := r.Header.Values("DPoP")
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", invalid("more than one DPoP header")
	case len(vs[0]) > MaxProofSize:
		return "", invalid("the DPoP header is too large")
	case vs[0] == "":
		return "", invalid("the DPoP header is empty")
	}
	return vs[0], nil
}

// Parse checks a proof by itself (RFC 9449 4.3, checks 2-7): a compact JWS with typ
// dpop+jwt, an asymmetric alg among Algorithms, a public jwk of a matching type in the header
// whose key verifies the signature, and the claims jti, htm, htu and iat present with the
// right types (ath and nonce optional strings). It checks nothing about the request.
func Parse(raw string) (Proof, error) {
	if len(raw) > MaxProofSize {
		return Proof{}, invalid("too large")
	}
	if strings.Count(raw, ".") != 2 {
		return Proof{}, invalid("not a compact JWS")
	}
	algs := make([]jose.SignatureAlgorithm, len(Algorithms))
	for i, a := range Algorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		return Proof{}, invalid("%v", err)
	}
	if len(jws.Signatures) != 1 {
		return Proof{}, invalid("exactly one signature expected")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "dpop+jwt") {
		return Proof{}, invalid("typ must be dpop+jwt")
	}
	jwk := h.JSONWebKey
	if jwk == nil {
		return Proof{}, invalid("no jwk in the header")
	}
	if err := publicKeyFor(jwk, h.Algorithm); err != nil {
		return Proof{}, err
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return Proof{}, invalid("signature: %v", err)
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Proof{}, invalid("claims: %v", err)
	}
	p, err := c.proof()
	if err != nil {
		return Proof{}, err
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return Proof{}, invalid("thumbprint: %v", err)
	}
	p.JKT = base64.RawURLEncoding.EncodeToString(tp)
	p.Algorithm = h.Algorithm
	return p, nil
}

// publicKeyFor checks that jwk is a public key (no private members) of the type alg needs.
func publicKeyFor(jwk *jose.JSONWebKey, alg string) error {
	if !jwk.Valid() || !jwk.IsPublic() {
		return invalid("the jwk must be a valid public key")
	}
	var want string
	switch {
	case strings.HasPrefix(alg, "ES"):
		want = "EC"
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		want = "RSA"
	case alg == "EdDSA":
		want = "OKP"
	default:
		return invalid("alg %q is not allowed", alg)
	}
	if kty := keyType(jwk.Key); kty != want {
		return invalid("alg %s needs a %s key, the jwk is %s", alg, want, kty)
	}
	return nil
}

// proof converts the decoded claims, checking presence and shape.
func (c claims) proof() (Proof, error) {
	switch {
	case c.JTI == nil || *c.JTI == "":
		return Proof{}, invalid("jti is missing")
	case len(*c.JTI) > maxJTI:
		return Proof{}, invalid("jti is too long")
	case c.HTM == nil || *c.HTM == "":
		return Proof{}, invalid("htm is missing")
	case c.HTU == nil || *c.HTU == "":
		return Proof{}, invalid("htu is missing")
	case c.IAT == nil || math.IsNaN(*c.IAT) || math.IsInf(*c.IAT, 0) || *c.IAT < 0 || *c.IAT > 1<<40:
		return Proof{}, invalid("iat is missing or not a time")
	}
	p := Proof{JTI: *c.JTI, Method: *c.HTM, URL: *c.HTU, IssuedAt: time.Unix(int64(*c.IAT), 0).UTC()}
	if c.ATH != nil {
		if *c.ATH == "" {
			return Proof{}, invalid("ath is empty")
		}
		p.AccessTokenHash = *c.ATH
	}
	if c.Nonce != nil {
		if *c.Nonce == "" {
			return Proof{}, invalid("nonce is empty")
		}
		p.Nonce = *c.Nonce
	}
	return p, nil
}

// AccessTokenHash is ath for an access token: base64url(SHA-256(token)) (RFC 9449 4.2).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
