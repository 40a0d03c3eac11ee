package authreq

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

// Bounds on request objects (RFC 9101).
const (
	// MaxRequestObject is the longest request object accepted, in bytes.
	MaxRequestObject = 16 << 10
	// maxRequestObjectLife is how far ahead a request object's exp may lie.
	maxRequestObjectLife = time.Hour
	// requestObjectSkew is the clock skew allowed on exp and nbf.
	requestObjectSkew = 30 * time.Second
)

// requestObjectTypes are the typ headers a signed request object may carry (RFC 9101 10.8):
// its own media type, or the generic JWT; a token of another kind (dpop+jwt, at+jwt) is not
// taken for a request object.
var requestObjectTypes = []string{"oauth-authz-req+jwt", "jwt"}

// jwtClaims are the JWT claims of a request object; they are not authorization parameters.
var jwtClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti", "sub"}

// RequestObjects verifies request objects (RFC 9101, OIDC Core 6.1) against the keys of
// the client that signed them.
type RequestObjects struct {
	// Issuer is the issuer URL: a request object's aud must name it.
	Issuer string
	Now    func() time.Time
}

// ErrRequestObject is the cause of every refused request object (logged; the client gets
// invalid_request_object).
var ErrRequestObject = errors.New("request object refused")

// Verify checks the request object the client sent and returns the authorization
// parameters it carries, which replace every other parameter of the request (RFC 9101 5):
// signed with one of the client's registered keys, or unsigned (alg none) only when the
// client is configured to allow that; encrypted objects are refused. iss must be the
// client, aud the issuer, client_id (when present) the client; exp is required, not past
// and at most an hour ahead; nbf, when present, not in the future. A request object may
// not nest request or request_uri. Errors are invalid_request_object (the cause says why).
func (v *RequestObjects) Verify(ctx context.Context, c *clients.Client, raw string) (url.Values, error) {
	payload, err := v.payload(ctx, c, raw)
	if err != nil {
		return nil, refusedObject(err)
	}
	claims, err := DecodeRequestObjectClaims(payload)
	if err != nil {
		return nil, refusedObject(err)
	}
	if err := v.checkClaims(claims, c.ID); err != nil {
		return nil, refusedObject(err)
	}
	params, err := requestParams(claims)
	if err != nil {
		return nil, refusedObject(err)
	}
	return params, nil
}

func refusedObject(err error) error {
	return oauth2err.New(oauth2err.InvalidRequestObject, "the request object is not valid").WithCause(err)
}

// payload verifies the request object's signature and returns its payload.
func (v *RequestObjects) payload(ctx context.Context, c *clients.Client, raw string) ([]byte, error) {
	if len(raw) > MaxRequestObject {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrRequestObject, MaxRequestObject)
	}
	switch strings.Count(raw, ".") {
	case 2:
	case 4:
		return nil, fmt.Errorf("%w: encrypted request objects are not supported", ErrRequestObject)
	default:
		return nil, fmt.Errorf("%w: not a compact JWT", ErrRequestObject)
	}
	if payload, ok, err := unsecuredPayload(raw); ok || err != nil {
		if err != nil {
			return nil, err
		}
		if !c.AllowUnsignedRequestObjects {
			return nil, fmt.Errorf("%w: unsigned (alg none) and the client may not send unsigned request objects", ErrRequestObject)
		}
		return payload, nil
	}
	if c.Keys == nil {
		return nil, fmt.Errorf("%w: the client has no registered keys (jwks or jwks_uri)", ErrRequestObject)
	}
	jws, err := jose.ParseSignedCompact(raw, signatureAlgorithms())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRequestObject, err)
	}
	if typ, _ := jws.Signatures[0].Header.ExtraHeaders[jose.HeaderType].(string); typ != "" && !slices.Contains(requestObjectTypes, strings.ToLower(typ)) {
		return nil, fmt.Errorf("%w: typ %q is not a request object's (another kind of JWT)", ErrRequestObject, truncate(typ))
	}
	if err := clients.VerifySignature(ctx, c, jws); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrRequestObject, err)
	}
	return jws.UnsafePayloadWithoutVerification(), nil // verified just above
}

// signatureAlgorithms are the algorithms a signed request object may use: those of client
// assertions.
func signatureAlgorithms() []jose.SignatureAlgorithm {
	algs := make([]jose.SignatureAlgorithm, len(clients.AssertionAlgorithms))
	for i, a := range clients.AssertionAlgorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	return algs
}

// unsecuredPayload returns the payload of an unsecured JWT (alg none, empty signature);
// ok is false for any other algorithm.
func unsecuredPayload(raw string) (payload []byte, ok bool, err error) {
	parts := strings.Split(raw, ".")
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, false, fmt.Errorf("%w: header is not base64url", ErrRequestObject)
	}
	var h map[string]any
	if err := json.Unmarshal(hdr, &h); err != nil {
		return nil, false, fmt.Errorf("%w: header is not JSON", ErrRequestObject)
	}
	if alg, _ := h["alg"].(string); alg != "none" {
		return nil, false, nil // a signed object: go-jose parses the header strictly
	}
	if parts[2] != "" {
		return nil, false, fmt.Errorf("%w: alg none with a signature", ErrRequestObject)
	}
	payload, err = base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false, fmt.Errorf("%w: payload is not base64url", ErrRequestObject)
	}
	return payload, true, nil
}

// DecodeRequestObjectClaims decodes a request object's payload: one JSON object (numbers
// kept as written), nothing after it.
func DecodeRequestObjectClaims(payload []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var claims map[string]any
	if err := d.Decode(&claims); err != nil || claims == nil {
		return nil, fmt.Errorf("%w: claims are not a JSON object", ErrRequestObject)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the claims", ErrRequestObject)
	}
	return claims, nil
}

// checkClaims applies RFC 9101 4 and 6.3 to the request object's JWT claims.
func (v *RequestObjects) checkClaims(claims map[string]any, clientID string) error {
	if iss, _ := claims["iss"].(string); iss != clientID {
		return fmt.Errorf("%w: iss must be the client_id", ErrRequestObject)
	}
	if cid, has := claims["client_id"]; has && cid != clientID {
		return fmt.Errorf("%w: client_id differs from the request's", ErrRequestObject)
	}
	if !audienceNames(claims["aud"], v.Issuer) {
		return fmt.Errorf("%w: aud must name the issuer", ErrRequestObject)
	}
	now := v.Now()
	exp, ok := numericDate(claims["exp"])
	switch {
	case !ok:
		return fmt.Errorf("%w: exp missing or malformed", ErrRequestObject)
	case !now.Before(exp.Add(requestObjectSkew)):
		return fmt.Errorf("%w: expired", ErrRequestObject)
	case exp.After(now.Add(maxRequestObjectLife + requestObjectSkew)):
		return fmt.Errorf("%w: exp more than %s ahead", ErrRequestObject, maxRequestObjectLife)
	}
	if n, has := claims["nbf"]; has {
		if nbf, ok := numericDate(n); !ok || nbf.After(now.Add(requestObjectSkew)) {
			return fmt.Errorf("%w: not yet valid (nbf)", ErrRequestObject)
		}
	}
	for _, k := range []string{"request", "request_uri"} {
		if _, has := claims[k]; has {
			return fmt.Errorf("%w: a request object may not contain %s", ErrRequestObject, k)
		}
	}
	return nil
}

// audienceNames reports whether aud (a string or an array of strings) names the issuer.
func audienceNames(aud any, issuer string) bool {
	switch a := aud.(type) {
	case string:
		return a == issuer
	case []any:
		return slices.ContainsFunc(a, func(v any) bool { s, _ := v.(string); return s == issuer })
	}
	return false
}

// numericDate reads a NumericDate claim.
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// Repeatable reports whether an authorization parameter may be given more than once:
// resource (RFC 8707 2); in a request object it is then an array of strings.
func Repeatable(param string) bool { return param == "resource" }

// requestParams turns the request object's claims into authorization parameters: strings
// as they are, numbers (max_age) as written, the claims parameter as JSON, arrays of strings
// for repeatable parameters; JWT claims are dropped and any other structure is refused.
func requestParams(claims map[string]any) (url.Values, error) {
	params := url.Values{}
	for k, v := range claims {
		if slices.Contains(jwtClaims, k) {
			continue
		}
		switch val := v.(type) {
		case string:
			params.Set(k, val)
		case json.Number:
			params.Set(k, val.String())
		case []any:
			if !Repeatable(k) {
				return nil, fmt.Errorf("%w: parameter %q is an array", ErrRequestObject, truncate(k))
			}
			for _, e := range val {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("%w: parameter %q holds a non-string", ErrRequestObject, truncate(k))
				}
				params.Add(k, s)
			}
		case map[string]any:
			if k != "claims" {
				return nil, fmt.Errorf("%w: parameter %q is an object", ErrRequestObject, truncate(k))
			}
			b, err := json.Marshal(val)
			if err != nil {
				return nil, fmt.Errorf("%w: claims: %v", ErrRequestObject, err)
			}
			params.Set(k, string(b))
		case nil:
		default:
			return nil, fmt.Errorf("%w: parameter %q is not a string", ErrRequestObject, truncate(k))
		}
	}
	return params, nil
}
