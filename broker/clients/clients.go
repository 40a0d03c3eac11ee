// Package clients owns Gatehouse's registered OAuth clients (relying parties): the registry,
// redirect URI matching (exact, plus the RFC 8252 rules for native apps), and client
// authentication at the token, revocation and introspection endpoints.
package clients

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Client is a registered client.
type Client struct {
	ID                     string
	Name                   string
	Public                 bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Trusted                bool
	AllowedConnectors      []string
	AllowedOrigins         []string
	secretHash             [32]byte
}

// New builds a client. The secret is kept only as its SHA-256 and compared in constant time.
func New(c Client, secret string) Client {
	if secret != "" {
		c.secretHash = sha256.Sum256([]byte(secret))
	}
	return c
}

// CheckSecret reports whether secret is the client's secret, in constant time.
func (c *Client) CheckSecret(secret string) bool {
	if c.Public {
		return false
	}
	h := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(h[:], c.secretHash[:]) == 1
}

// AllowsConnector reports whether users of this client may log in with the connector.
func (c *Client) AllowsConnector(id string) bool {
	if len(c.AllowedConnectors) == 0 {
		return true
	}
	for _, a := range c.AllowedConnectors {
		if a == id {
			return true
		}
	}
	return false
}

// Registry is an immutable set of clients, safe for concurrent use.
type Registry struct{ byID map[string]*Client }

// NewRegistry builds a registry; client IDs must be unique.
func NewRegistry(cs []Client) (*Registry, error) {
	r := &Registry{byID: make(map[string]*Client, len(cs))}
	for i := range cs {
		c := cs[i]
		if _, dup := r.byID[c.ID]; dup {
			return nil, fmt.Errorf("duplicate client id %q", c.ID)
		}
		r.byID[c.ID] = &c
	}
	return r, nil
}

// Get returns the client with the ID, or nil.
func (r *Registry) Get(id string) *Client {
	if r == nil {
		return nil
	}
	return r.byID[id]
}

// All returns every client (for CORS origin collection).
func (r *Registry) All() []*Client {
	out := make([]*Client, 0, len(r.byID))
	for _, c := range r.byID {
		out = append(out, c)
	}
	return out
}

// MatchRedirectURI reports whether the requested redirect URI is registered for the client.
// Matching is exact string comparison, with the RFC 8252 exceptions for native apps:
//   - a registered loopback URI (http://127.0.0.1/..., http://[::1]/..., http://localhost/...)
//     matches the same URI with any port (RFC 8252 7.3);
//   - private-use URI schemes (com.example.app:/callback) match exactly (RFC 8252 7.1).
//
// Requested URIs with a fragment never match (RFC 6749 3.1.2).
func MatchRedirectURI(registered []string, requested string) bool {
	if requested == "" || strings.Contains(requested, "#") {
		return false
	}
	for _, reg := range registered {
		if reg == requested {
			return true
		}
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || req.User != nil || req.Port() == "" {
		return false
	}
	if !isLoopbackHost(req.Hostname()) {
		return false
	}
	for _, reg := range registered {
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || ru.User != nil || ru.Fragment != "" || !isLoopbackHost(ru.Hostname()) {
			continue
		}
		if ru.Hostname() == req.Hostname() && ru.EscapedPath() == req.EscapedPath() &&
			ru.RawQuery == req.RawQuery && !ru.ForceQuery && !req.ForceQuery {
			return true
		}
	}
	return false
}

func isLoopbackHost(h string) bool {
	return h == "127.0.0.1" || h == "::1" || h == "localhost"
}

// Credentials are what a request presented to authenticate a client.
type Credentials struct {
	ID     string
	Secret string
	// Method is client_secret_basic, client_secret_post or none.
	Method string
}

// ErrMultipleMethods is returned when a request uses more than one authentication method.
var ErrMultipleMethods = fmt.Errorf("client used more than one authentication method")

// ReadCredentials extracts client credentials from an already-parsed form request
// (RFC 6749 2.3.1): HTTP Basic with form-urlencoded ID and secret, or client_id and
// client_secret in the body, or client_id alone for public clients.
func ReadCredentials(r *http.Request) (Credentials, error) {
	user, pass, basic := r.BasicAuth()
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if basic {
		if formSecret != "" {
			return Credentials{}, ErrMultipleMethods
		}
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return Credentials{}, fmt.Errorf("malformed basic credentials")
		}
		if formID != "" && formID != id {
			return Credentials{}, fmt.Errorf("client_id does not match the authenticated client")
		}
		return Credentials{ID: id, Secret: secret, Method: "client_secret_basic"}, nil
	}
	if formSecret != "" {
		return Credentials{ID: formID, Secret: formSecret, Method: "client_secret_post"}, nil
	}
	return Credentials{ID: formID, Method: "none"}, nil
}

// Authenticate checks credentials against the registry. Public clients authenticate with
// "none"; confidential clients must present their secret. It returns nil when
// authentication fails, for any reason (the caller answers invalid_client).
func (r *Registry) Authenticate(cr Credentials) *Client {
	c := r.Get(cr.ID)
	if cr.ID == "" {
		return nil
	}
	if c == nil {
		// Spend the same work as a real comparison.
		dummy := Client{}
		dummy.CheckSecret(cr.Secret)
		return nil
	}
	if c.Public {
		if cr.Method != "none" {
			return nil
		}
		return c
	}
	if cr.Method == "none" || !c.CheckSecret(cr.Secret) {
		return nil
	}
	return c
}
