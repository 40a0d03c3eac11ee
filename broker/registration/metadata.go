package registration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

// Metadata is a client's registered metadata (RFC 7591 2, OpenID Connect Dynamic Client
// Registration 1.0 2, Back-/Front-Channel Logout, RFC 9126, RFC 9449), as the endpoint
// reads it from a request and answers it. Members Gatehouse does not know are ignored
// (RFC 7591 2: the server answers what it registered).
type Metadata struct {
	RedirectURIs                       []string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod            string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes                         []string        `json:"grant_types,omitempty"`
	ResponseTypes                      []string        `json:"response_types,omitempty"`
	ClientName                         string          `json:"client_name,omitempty"`
	Scope                              string          `json:"scope,omitempty"`
	JWKSURI                            string          `json:"jwks_uri,omitempty"`
	JWKS                               json.RawMessage `json:"jwks,omitempty"`
	SoftwareID                         string          `json:"software_id,omitempty"`
	SoftwareVersion                    string          `json:"software_version,omitempty"`
	PostLogoutRedirectURIs             []string        `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI               string          `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired   bool            `json:"backchannel_logout_session_required,omitempty"`
	FrontchannelLogoutURI              string          `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired  bool            `json:"frontchannel_logout_session_required,omitempty"`
	RequirePushedAuthorizationRequests bool            `json:"require_pushed_authorization_requests,omitempty"`
	DPoPBoundAccessTokens              bool            `json:"dpop_bound_access_tokens,omitempty"`
	// SoftwareStatement is the request's software statement (RFC 7591 2.3); never stored.
	SoftwareStatement string `json:"-"`
	// ClientID and ClientSecret are what an RFC 7592 update request carries (checked
	// against the client's, never taken from the request).
	ClientID     string `json:"-"`
	ClientSecret string `json:"-"`
}

// Bounds of a registration request (the broker also bounds every body).
const (
	maxBody     = 64 << 10
	maxList     = 32
	maxString   = 2048
	maxJWKS     = 16 << 10
	maxMembers  = 64
	maxNameSize = 200
)

// field decodes one member of a request object into its typed destination.
type field func(raw json.RawMessage) error

// fields maps the member names the endpoint reads to their decoders into m.
func (m *Metadata) fields() map[string]field {
	str := func(dst *string) field {
		return func(raw json.RawMessage) error { return json.Unmarshal(raw, dst) }
	}
	list := func(dst *[]string) field {
		return func(raw json.RawMessage) error { return json.Unmarshal(raw, dst) }
	}
	flag := func(dst *bool) field {
		return func(raw json.RawMessage) error { return json.Unmarshal(raw, dst) }
	}
	return map[string]field{
		"redirect_uris": list(&m.RedirectURIs), "token_endpoint_auth_method": str(&m.TokenEndpointAuthMethod),
		"grant_types": list(&m.GrantTypes), "response_types": list(&m.ResponseTypes), "client_name": str(&m.ClientName),
		"scope": str(&m.Scope), "jwks_uri": str(&m.JWKSURI), "software_id": str(&m.SoftwareID),
		"software_version": str(&m.SoftwareVersion), "post_logout_redirect_uris": list(&m.PostLogoutRedirectURIs),
		"backchannel_logout_uri": str(&m.BackchannelLogoutURI), "frontchannel_logout_uri": str(&m.FrontchannelLogoutURI),
		"backchannel_logout_session_required":   flag(&m.BackchannelLogoutSessionRequired),
		"frontchannel_logout_session_required":  flag(&m.FrontchannelLogoutSessionRequired),
		"require_pushed_authorization_requests": flag(&m.RequirePushedAuthorizationRequests),
		"dpop_bound_access_tokens":              flag(&m.DPoPBoundAccessTokens),
		"software_statement":                    str(&m.SoftwareStatement), "client_id": str(&m.ClientID),
		"client_secret": str(&m.ClientSecret),
		"jwks": func(raw json.RawMessage) error {
			if len(raw) > maxJWKS {
				return fmt.Errorf("is longer than %d bytes", maxJWKS)
			}
			if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
				return fmt.Errorf("must be a JSON object (a JWK Set)")
			}
			m.JWKS = slices.Clone(raw)
			return nil
		},
	}
}

// ParseMetadata reads a registration or update request body: one JSON object whose known
// members have the right types and sizes. A malformed body or member is
// invalid_client_metadata naming the member; unknown members are ignored.
func ParseMetadata(body []byte) (Metadata, error) {
	obj, err := parseObject(body)
	if err != nil {
		return Metadata{}, err
	}
	return metadataFrom(obj)
}

// parseObject reads a JSON object into its raw members (at most maxMembers).
func parseObject(body []byte) (map[string]json.RawMessage, error) {
	if len(body) > maxBody {
		return nil, metadataErr("", "the request is longer than %d bytes", maxBody)
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, metadataErr("", "the request body must be a JSON object")
	}
	if dec.More() {
		return nil, metadataErr("", "the request body must be one JSON object")
	}
	if len(obj) > maxMembers {
		return nil, metadataErr("", "the request has more than %d members", maxMembers)
	}
	return obj, nil
}

// metadataFrom decodes the known members of obj, in a fixed order (the first bad one is
// reported).
func metadataFrom(obj map[string]json.RawMessage) (Metadata, error) {
	var m Metadata
	fs := m.fields()
	names := make([]string, 0, len(fs))
	for n := range fs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		raw, ok := obj[n]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := fs[n](raw); err != nil {
			return Metadata{}, metadataErr(n, "%s", jsonProblem(err))
		}
	}
	if err := m.checkSizes(); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// jsonProblem says what was wrong with a member without echoing Go type names.
func jsonProblem(err error) string {
	if _, ok := err.(*json.UnmarshalTypeError); ok { //nolint:errorlint // json.Unmarshal returns it unwrapped
		return "has the wrong JSON type"
	}
	return err.Error()
}

// checkSizes bounds every string and list.
func (m *Metadata) checkSizes() error {
	lists := map[string][]string{"redirect_uris": m.RedirectURIs, "grant_types": m.GrantTypes,
		"response_types": m.ResponseTypes, "post_logout_redirect_uris": m.PostLogoutRedirectURIs}
	for n, l := range lists {
		if len(l) > maxList {
			return metadataErr(n, "has more than %d entries", maxList)
		}
		for i, v := range l {
			if len(v) > maxString {
				return metadataErr(fmt.Sprintf("%s[%d]", n, i), "is longer than %d bytes", maxString)
			}
		}
	}
	strs := map[string]string{"jwks_uri": m.JWKSURI, "backchannel_logout_uri": m.BackchannelLogoutURI,
		"frontchannel_logout_uri": m.FrontchannelLogoutURI, "scope": m.Scope, "software_id": m.SoftwareID,
		"software_version": m.SoftwareVersion, "token_endpoint_auth_method": m.TokenEndpointAuthMethod,
		"client_id": m.ClientID, "client_secret": m.ClientSecret}
	for n, v := range strs {
		if len(v) > maxString {
			return metadataErr(n, "is longer than %d bytes", maxString)
		}
	}
	if len(m.ClientName) > maxNameSize {
		return metadataErr("client_name", "is longer than %d bytes", maxNameSize)
	}
	if len(strings.Fields(m.Scope)) > maxList {
		return metadataErr("scope", "has more than %d scopes", maxList)
	}
	if len(m.SoftwareStatement) > maxJWKS {
		return &oauth2err.Error{Code: oauth2err.InvalidSoftwareStatement, Description: "the software statement is too long"}
	}
	return nil
}

// metadataErr is invalid_client_metadata naming the member (RFC 7591 3.2.2).
func metadataErr(member, format string, args ...any) *oauth2err.Error {
	d := fmt.Sprintf(format, args...)
	if member != "" {
		d = member + ": " + d
	}
	return &oauth2err.Error{Code: oauth2err.InvalidClientMetadata, Description: d}
}

// redirectErr is invalid_redirect_uri naming the member.
func redirectErr(member, format string, args ...any) *oauth2err.Error {
	return &oauth2err.Error{Code: oauth2err.InvalidRedirectURI, Description: member + ": " + fmt.Sprintf(format, args...)}
}
