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
	req.Claims = cr
	for _, v := range cr.IDToken["acr"].Strings() {
		if !slices.Contains(req.ACRValues, v) {
			req.ACRValues = append(req.ACRValues, v)
		}
	}
	return nil
}
