package authreq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Bounds on the claims request parameter (OIDC Core 5.5).
const (
	// MaxClaimsParam is the longest claims parameter accepted, in bytes.
	MaxClaimsParam = 4 << 10
	// maxClaimsRequested is the most individual claims one parameter may name.
	maxClaimsRequested = 64
	maxClaimName       = 256
)

// ClaimsRequest is the claims request parameter (OIDC Core 5.5): the individual claims a
// client asks for in the ID token and at the UserInfo endpoint. It never widens what the
// claims pipeline releases for the client and its scopes: a requested claim the pipeline
// does not release is simply absent, essential or not (OIDC Core 5.5.1).
type ClaimsRequest struct {
	IDToken  map[string]*ClaimRequest `json:"id_token,omitempty"`
	UserInfo map[string]*ClaimRequest `json:"userinfo,omitempty"`
}

// ClaimRequest is one requested claim: null in JSON (nil here) asks for it as voluntary.
type ClaimRequest struct {
	Essential bool            `json:"essential,omitempty"`
	Value     json.RawMessage `json:"value,omitempty"`
	Values    json.RawMessage `json:"values,omitempty"`
}

// ErrClaimsParam is the cause of every refused claims parameter.
var ErrClaimsParam = errors.New("claims parameter refused")

// ParseClaimsRequest decodes a claims parameter: a JSON object, at most MaxClaimsParam
// bytes, whose id_token and userinfo members (others are ignored, OIDC Core 5.5) map claim
// names to null or to an object with essential (a boolean), value, and values (an array).
func ParseClaimsRequest(s string) (*ClaimsRequest, error) {
	if len(s) > MaxClaimsParam {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrClaimsParam, MaxClaimsParam)
	}
	var top map[string]json.RawMessage
	if err := decodeOne([]byte(s), &top); err != nil || top == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrClaimsParam)
	}
	cr := &ClaimsRequest{}
	n := 0
	for member, dst := range map[string]*map[string]*ClaimRequest{"id_token": &cr.IDToken, "userinfo": &cr.UserInfo} {
		raw, ok := top[member]
		if !ok || string(raw) == "null" {
			continue
		}
		var claims map[string]json.RawMessage
		if err := decodeOne(raw, &claims); err != nil || claims == nil {
			return nil, fmt.Errorf("%w: %s is not an object", ErrClaimsParam, member)
		}
		out := make(map[string]*ClaimRequest, len(claims))
		for name, v := range claims {
			if n++; n > maxClaimsRequested {
				return nil, fmt.Errorf("%w: more than %d claims", ErrClaimsParam, maxClaimsRequested)
			}
			if name == "" || len(name) > maxClaimName {
				return nil, fmt.Errorf("%w: a claim name is empty or too long", ErrClaimsParam)
			}
			one, err := parseClaimRequest(v)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.%s: %v", ErrClaimsParam, member, truncate(name), err)
			}
			out[name] = one
		}
		*dst = out
	}
	return cr, nil
}

// parseClaimRequest reads one claim's request: null or {essential, value, values}.
func parseClaimRequest(raw json.RawMessage) (*ClaimRequest, error) {
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var fields map[string]json.RawMessage
	if err := decodeOne(raw, &fields); err != nil || fields == nil {
		return nil, errors.New("must be null or an object")
	}
	cr := &ClaimRequest{Value: fields["value"], Values: fields["values"]}
	if e, ok := fields["essential"]; ok {
		if err := json.Unmarshal(e, &cr.Essential); err != nil {
			return nil, errors.New("essential must be a boolean")
		}
	}
	if cr.Values != nil {
		var list []json.RawMessage
		if err := json.Unmarshal(cr.Values, &list); err != nil {
			return nil, errors.New("values must be an array")
		}
	}
	return cr, nil
}

// decodeOne decodes exactly one JSON value.
func decodeOne(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the value")
	}
	return nil
}

// Strings returns the string value and values of a claim request (acr values), in order.
func (c *ClaimRequest) Strings() []string {
	if c == nil {
		return nil
	}
	var out []string
	var one string
	if c.Value != nil && json.Unmarshal(c.Value, &one) == nil && one != "" {
		out = append(out, one)
	}
	var many []any
	if c.Values != nil && json.Unmarshal(c.Values, &many) == nil {
		for _, v := range many {
			if s, ok := v.(string); ok && s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseClaims reads the claims parameter; acr values it asks for in the ID token (value or
// values, essential or not) join acr_values, which the second-factor step honours.
func parseClaims(req *Request, form url.Values, _ *clients.Client) error {
	raw := form.Get("claims")
	if raw == "" {
		return nil
	}
	cr, err := ParseClaimsRequest(raw)
	if err != nil {
		return oauth2err.New(oauth2err.InvalidRequest, "the claims parameter is not valid").WithCause(err)
	}
	if req.ClaimsSubject, err = cr.subject(); err != nil {
		return oauth2err.New(oauth2err.InvalidRequest, "the claims parameter is not valid: "+err.Error()).WithCause(err)
	}
	req.Claims = cr
	for _, v := range cr.IDToken["acr"].Strings() {
		if !slices.Contains(req.ACRValues, v) {
			req.ACRValues = append(req.ACRValues, v)
		}
	}
	return nil
}

// subject returns the sub values the request demands (OIDC Core 5.5.1: value or values of
// sub in id_token or userinfo); with both members naming values, the user must be in both.
// A value that is not a non-empty string, or an empty values array, is refused: it must
// never read as "any user".
func (c *ClaimsRequest) subject() ([]string, error) {
	var out []string
	seen := false
	for _, member := range []map[string]*ClaimRequest{c.IDToken, c.UserInfo} {
		vals, err := member["sub"].exactStrings()
		if err != nil {
			return nil, fmt.Errorf("%w: sub: %v", ErrClaimsParam, err)
		}
		switch {
		case vals == nil:
			continue
		case !seen:
			out, seen = vals, true
		default:
			out = slices.DeleteFunc(out, func(s string) bool { return !slices.Contains(vals, s) })
		}
	}
	if seen && len(out) == 0 {
		return nil, fmt.Errorf("%w: the sub values of id_token and userinfo do not agree", ErrClaimsParam)
	}
	return out, nil
}

// exactStrings returns value and values as strings (nil when neither is given), refusing
// anything but non-empty strings and a non-empty values array.
func (c *ClaimRequest) exactStrings() ([]string, error) {
	if c == nil || c.Value == nil && c.Values == nil {
		return nil, nil
	}
	var out []string
	if c.Value != nil {
		var one string
		if json.Unmarshal(c.Value, &one) != nil || one == "" {
			return nil, errors.New("value must be a non-empty string")
		}
		out = append(out, one)
	}
	if c.Values != nil {
		var many []string
		if json.Unmarshal(c.Values, &many) != nil || len(many) == 0 || slices.Contains(many, "") {
			return nil, errors.New("values must be a non-empty array of non-empty strings")
		}
		out = append(out, many...)
	}
	return out, nil
}

// RequestedClaims returns what Gatehouse keeps of the claims parameter with the auth request:
// the names asked for in the ID token and at userinfo (sorted) and the sub values demanded.
// Nil when there is nothing to keep.
func (r *Request) RequestedClaims() *storage.RequestedClaims {
	if r.Claims == nil {
		return nil
	}
	rc := &storage.RequestedClaims{IDToken: sortedNames(r.Claims.IDToken), UserInfo: sortedNames(r.Claims.UserInfo),
		Subject: slices.Clone(r.ClaimsSubject)}
	if rc.Empty() {
		return nil
	}
	return rc
}

func sortedNames(m map[string]*ClaimRequest) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for name := range m {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
