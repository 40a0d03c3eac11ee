// Package oauthflow holds what Gatehouse's OAuth 2.0 based connectors (oidc, oauth2, github,
// gitlab, gitea, bitbucket, google, microsoft) share: reading the upstream's redirect back
// (state, RFC 9207 iss, error=access_denied), turning token-endpoint and API failures into the
// connectors package's errors, JSON API calls with Link-header, body-next and OData paging,
// dotted claim paths, and the per-login stash encoding.
//
// Nothing here logs a token or a secret: errors carry status codes, OAuth error codes and
// short body excerpts of error responses only.
package oauthflow

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
)

// DefaultTimeout bounds one upstream HTTP request when Deps.HTTP is nil.
const DefaultTimeout = 15 * time.Second

// HTTPClient returns c, or a client with DefaultTimeout when c is nil, bounded by
// httpx.BoundedClient: every response body capped (httpx.MaxResponseBytes unless the request
// context allows more), a timeout, no redirect from https to http.
func HTTPClient(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{Timeout: DefaultTimeout}
	}
	return httpx.BoundedClient(c)
}

// WithClient returns ctx carrying c for golang.org/x/oauth2's token requests.
func WithClient(ctx context.Context, c *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

// RandomString returns n random bytes, base64url-encoded without padding.
func RandomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// EncodeStash encodes a connector's per-login or per-grant state.
func EncodeStash(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode stash: %w", err)
	}
	return b, nil
}

// DecodeStash decodes what EncodeStash produced. An empty stash is an error.
func DecodeStash(b []byte, v any) error {
	if len(b) == 0 {
		return errors.New("no connector state for this login (expired or replayed)")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode stash: %w", err)
	}
	return nil
}

// Callback is what ReadCallback expects of the upstream's redirect back.
type Callback struct {
	// State is the value sent as the state parameter.
	State string
	// Issuer is the upstream's issuer identifier; when non-empty, an iss parameter in the
	// response (RFC 9207) must equal it.
	Issuer string
	// RequireIss makes a missing iss an error (the upstream advertised
	// authorization_response_iss_parameter_supported).
	RequireIss bool
	// Provider names the upstream in messages shown to users ("GitHub").
	Provider string
}

// ReadCallback checks an authorization response (RFC 6749 4.1.2, RFC 9207) and returns the
// authorization code. An error=access_denied becomes a *connectors.DeniedError; the upstream's
// server_error and temporarily_unavailable become a *connectors.UpstreamError.
func ReadCallback(r *http.Request, want Callback) (string, error) {
	if err := r.ParseForm(); err != nil {
		return "", fmt.Errorf("read callback: %w", err)
	}
	q := r.Form
	if want.State == "" || q.Get("state") != want.State {
		return "", errors.New("callback state does not match the login in progress")
	}
	if iss := q.Get("iss"); iss != "" || want.RequireIss {
		if want.Issuer != "" && iss != want.Issuer {
			return "", fmt.Errorf("callback iss %q does not match the upstream issuer %q (RFC 9207)", iss, want.Issuer)
		}
	}
	name := want.Provider
	if name == "" {
		name = "the identity provider"
	}
	if code := q.Get("error"); code != "" {
		desc := clean(q.Get("error_description"), 200)
		switch code {
		case "access_denied":
			reason := "the sign-in was cancelled or refused at " + name
			if desc != "" {
				reason += " (" + desc + ")"
			}
			return "", &connectors.DeniedError{Reason: reason}
		case "temporarily_unavailable", "server_error":
			return "", &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("authorization response error %s: %s", code, desc)}
		default:
			return "", fmt.Errorf("authorization response error %s: %s", clean(code, 64), desc)
		}
	}
	code := q.Get("code")
	if code == "" {
		return "", errors.New("callback carries neither code nor error")
	}
	return code, nil
}

// clean keeps printable ASCII of s, at most max bytes: upstream text shown to users or logged.
func clean(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			break
		}
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// IsUnreachable reports whether err is a transport failure: connection refused, DNS, timeout.
func IsUnreachable(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, context.DeadlineExceeded)
}

// TokenError classifies an error from a token-endpoint exchange (authorization code): a
// transport failure or a 5xx is a *connectors.UpstreamError, anything else a plain error
// naming the OAuth error code.
func TokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil && re.Response.StatusCode >= 500 {
			return &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("token endpoint: HTTP %d", re.Response.StatusCode)}
		}
		return fmt.Errorf("token endpoint refused the code: %s %s", clean(re.ErrorCode, 64), clean(re.ErrorDescription, 200))
	}
	if IsUnreachable(err) {
		return &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("token endpoint: %w", err)}
	}
	return fmt.Errorf("token endpoint: %w", err)
}

// RefreshError classifies an error from a refresh-token grant: invalid_grant (the refresh
// token was revoked, expired, or the user is gone) wraps connectors.ErrUpstreamRevoked; a
// transport failure or a 5xx is a *connectors.UpstreamError.
func RefreshError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		switch {
		case status >= 500:
			return &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("token endpoint: HTTP %d", status)}
		case re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client" || (re.ErrorCode == "" && status == http.StatusBadRequest):
			return fmt.Errorf("%w: refresh refused (%s %s)", connectors.ErrUpstreamRevoked, clean(re.ErrorCode, 64), clean(re.ErrorDescription, 200))
		default:
			return &connectors.UpstreamError{Err: fmt.Errorf("token endpoint refused the refresh: HTTP %d %s", status, clean(re.ErrorCode, 64))}
		}
	}
	if IsUnreachable(err) {
		return &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("token endpoint: %w", err)}
	}
	return fmt.Errorf("refresh: %w", err)
}

// DomainOf returns the lower-cased domain of an email address, or "".
func DomainOf(email string) string {
	i := strings.LastIndexByte(email, '@')
	if i < 0 || i == len(email)-1 {
		return ""
	}
	return strings.ToLower(email[i+1:])
}

// ValidateEndpoint checks a configured upstream URL (token, userinfo, authorization endpoint,
// API base): absolute, no fragment, https, or plain http only on a loopback host (the rule
// the oidc connector applies to issuers). Codes, client secrets and access tokens must not
// cross the network in clear.
func ValidateEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute URL without fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); h == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("%q must use https (plain http only on loopback)", s)
	}
	return fmt.Errorf("%q must use https", s)
}

// ValidateClient reports a missing client_id or client_secret, the two settings every OAuth
// 2.0 connector requires.
func ValidateClient(id, secret string) []error {
	var errs []error
	if id == "" {
		errs = append(errs, errors.New("client_id: required"))
	}
	if secret == "" {
		errs = append(errs, errors.New("client_secret: required"))
	}
	return errs
}

// ValidateBaseURL checks a configured instance base_url (GitHub Enterprise, GitLab, Gitea): a
// server URL with a host and no query or fragment (with rootOnly, no path either) that
// ValidateEndpoint accepts. example is a correct value shown in the message.
func ValidateBaseURL(raw, example string, rootOnly bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || (rootOnly && u.Path != "" && u.Path != "/") {
		return fmt.Errorf("base_url: %q is not a server URL like %s", raw, example)
	}
	if err := ValidateEndpoint(raw); err != nil {
		return fmt.Errorf("base_url: %w", err)
	}
	return nil
}
