package storage

import (
	"encoding/json"
	"fmt"
)

// RequestedClaims is what the claims request parameter of an OIDC authorization request
// (OIDC Core 5.5) asked for, as far as it outlives the request: the names of the claims
// asked for in the ID token and at the UserInfo endpoint, and the subject the request
// demands. It never widens what a client may receive by itself: the broker releases a
// requested claim only within the client's policy and the user's consent.
type RequestedClaims struct {
	// IDToken are the claims asked for in the ID token.
	IDToken []string `json:"id_token,omitempty"`
	// UserInfo are the claims asked for at the UserInfo endpoint.
	UserInfo []string `json:"userinfo,omitempty"`
	// Subject are the sub values the request named (value or values of sub, OIDC Core
	// 5.5.1): the login succeeds only for a user the client knows by one of them. Empty:
	// any user.
	Subject []string `json:"sub,omitempty"`
}

// Empty reports whether r asks for nothing.
func (r *RequestedClaims) Empty() bool {
	return r == nil || len(r.IDToken) == 0 && len(r.UserInfo) == 0 && len(r.Subject) == 0
}

// EncodeRequestedClaims returns r as the JSON text backends store ("" for nil or empty).
func EncodeRequestedClaims(r *RequestedClaims) (string, error) {
	if r.Empty() {
		return "", nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("storage: encode requested claims: %w", err)
	}
	return string(b), nil
}

// DecodeRequestedClaims reads what EncodeRequestedClaims wrote ("" is nil).
func DecodeRequestedClaims(s string) (*RequestedClaims, error) {
	if s == "" {
		return nil, nil
	}
	r := &RequestedClaims{}
	if err := json.Unmarshal([]byte(s), r); err != nil {
		return nil, fmt.Errorf("storage: decode requested claims: %w", err)
	}
	return r, nil
}
