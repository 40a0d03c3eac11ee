// Package authproxy is Gatehouse's authproxy connector: the identity comes from headers set
// by a trusted front proxy (Apache, nginx, an SSO gateway) that authenticated the user
// itself, as in Dex's authproxy connector.
//
// A request is believed only when all of these hold:
//   - its immediate peer (the TCP connection's address, never X-Forwarded-For) is in
//     web.trusted_proxies;
//   - with secret set, it carries the shared secret in secret_header exactly once, compared
//     in constant time;
//   - with client_cert_names set, it came over Gatehouse's https listener with a client
//     certificate verified against web.client_ca whose subject common name or a DNS name is
//     one of them (mutual TLS).
//
// At least one of secret and client_cert_names is required. Otherwise, and when the user
// header is missing, empty or sent more than once, the whole request is refused
// (connectors.ErrUntrustedRequest): no header of it is used.
//
// The proxy must protect {issuer}/login/{connector id} with its own authentication, and it
// must set (overwrite) or remove the identity headers on every request it forwards to
// Gatehouse, so a client cannot pass its own X-Remote-User through it.
//
// Config keys (under connectors[].config):
//
//	secret: ${PROXY_SECRET}            # at least 16 characters; required without client_cert_names
//	client_cert_names: []              # mutual TLS: the proxy's certificate CN or DNS names
//	secret_header: X-Gatehouse-Proxy-Secret
//	user_header: X-Remote-User         # required in the request; the username
//	user_id_header: ""                 # optional stable ID; the subject (default: the user header)
//	email_header: X-Remote-Email
//	name_header: X-Remote-Name
//	groups_header: X-Remote-Groups     # may repeat; each value split on groups_separator
//	groups_separator: ","
//	groups: []                         # static groups added to every user of this connector
//	trust_email: false                 # report the email as verified
package authproxy

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
)

// Defaults of the header names.
const (
	DefaultSecretHeader    = "X-Gatehouse-Proxy-Secret"
	DefaultUserHeader      = "X-Remote-User"
	DefaultEmailHeader     = "X-Remote-Email"
	DefaultNameHeader      = "X-Remote-Name"
	DefaultGroupsHeader    = "X-Remote-Groups"
	DefaultGroupsSeparator = ","
)

// Limits on what the proxy may send.
const (
	minSecretLen  = 16
	maxValueBytes = 1024
	maxGroups     = 1000
)

// Config is the YAML configuration of an authproxy connector. It implements connectors.Config.
type Config struct {
	// Secret is the value the proxy sends in SecretHeader; required.
	Secret          string   `yaml:"secret" secret:"file"`
	SecretHeader    string   `yaml:"secret_header"`
	UserHeader      string   `yaml:"user_header"`
	UserIDHeader    string   `yaml:"user_id_header"`
	EmailHeader     string   `yaml:"email_header"`
	NameHeader      string   `yaml:"name_header"`
	GroupsHeader    string   `yaml:"groups_header"`
	GroupsSeparator string   `yaml:"groups_separator"`
	Groups          []string `yaml:"groups"`
	// TrustEmail reports the proxy's email as verified.
	TrustEmail bool `yaml:"trust_email"`
	// ClientCertNames, when set, requires the request to come over TLS with a client
	// certificate verified against web.client_ca whose subject common name or a DNS name is
	// one of these (mutual TLS with the proxy). With a secret too, both are required.
	ClientCertNames []string `yaml:"client_cert_names"`
}

var (
	_ connectors.Config            = (*Config)(nil)
	_ connectors.EmailVerifier     = (*Config)(nil)
	_ connectors.ProxyHeaderConfig = (*Config)(nil)
)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case c.Secret == "" && len(c.ClientCertNames) == 0:
		errs = append(errs, errors.New("secret: required (the value the proxy sends in secret_header), unless client_cert_names is set"))
	case c.Secret != "" && len(c.Secret) < minSecretLen:
		errs = append(errs, fmt.Errorf("secret: must be at least %d characters", minSecretLen))
	}
	for i, n := range c.ClientCertNames {
		if strings.TrimSpace(n) == "" {
			errs = append(errs, fmt.Errorf("client_cert_names[%d]: empty name", i))
		}
	}
	errs = append(errs, c.headerProblems()...)
	if len(c.GroupsSeparator) > 8 || strings.TrimSpace(c.GroupsSeparator) == "" && c.GroupsSeparator != "" {
		errs = append(errs, fmt.Errorf("groups_separator: %q must be 1 to 8 non-blank characters", c.GroupsSeparator))
	}
	for i, g := range c.Groups {
		if strings.TrimSpace(g) == "" {
			errs = append(errs, fmt.Errorf("groups[%d]: empty group name", i))
		}
	}
	return errors.Join(errs...)
}

// headerProblems checks the header keys: HTTP token names, no two naming the same header.
func (c *Config) headerProblems() []error {
	var errs []error
	used := map[string]string{} // canonical header name -> key
	for _, h := range []struct{ key, val, def string }{
		{"secret_header", c.SecretHeader, DefaultSecretHeader}, {"user_header", c.UserHeader, DefaultUserHeader},
		{"user_id_header", c.UserIDHeader, ""}, {"email_header", c.EmailHeader, DefaultEmailHeader},
		{"name_header", c.NameHeader, DefaultNameHeader}, {"groups_header", c.GroupsHeader, DefaultGroupsHeader},
	} {
		if h.val != "" && !validHeaderName(h.val) {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid HTTP header name", h.key, h.val))
			continue
		}
		name := http.CanonicalHeaderKey(orDefault(h.val, h.def))
		if prev, dup := used[name]; dup && name != "" {
			errs = append(errs, fmt.Errorf("%s: %s is also %s", h.key, name, prev))
		}
		used[name] = h.key
	}
	return errs
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	for _, r := range s {
		if r > 0x7e || r <= 0x20 || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return s != ""
}

// VerifiesEmail reports whether the proxy's email is reported as verified (trust_email).
func (c *Config) VerifiesEmail() (bool, string) { return c.TrustEmail, "trust_email" }

// ProxyNeeds reports that the connector believes nobody without web.trusted_proxies, and
// needs web.client_ca when it checks client certificates.
func (c *Config) ProxyNeeds() connectors.ProxyNeeds {
	return connectors.ProxyNeeds{TrustedProxies: true, ClientCA: len(c.ClientCertNames) > 0}
}

// Open builds the connector. It refuses to open without trusted proxies.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if len(deps.TrustedProxies) == 0 {
		return nil, errors.New("authproxy: web.trusted_proxies is empty: no proxy may assert identities")
	}
	conn := &Connector{
		info: info, proxies: slices.Clone(deps.TrustedProxies), certNames: slices.Clone(c.ClientCertNames),
		secretHeader: orDefault(c.SecretHeader, DefaultSecretHeader),
		userHeader:   orDefault(c.UserHeader, DefaultUserHeader), userIDHeader: c.UserIDHeader,
		emailHeader: orDefault(c.EmailHeader, DefaultEmailHeader), nameHeader: orDefault(c.NameHeader, DefaultNameHeader),
		groupsHeader: orDefault(c.GroupsHeader, DefaultGroupsHeader), separator: orDefault(c.GroupsSeparator, DefaultGroupsSeparator),
		groups: slices.Clone(c.Groups), trustEmail: c.TrustEmail,
	}
	if c.Secret != "" {
		sum := sha256.Sum256([]byte(c.Secret))
		conn.secretSum = &sum
	}
	return conn, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Connector believes a trusted proxy's identity headers. It implements
// connectors.RequestConnector.
type Connector struct {
	info                                   connectors.Info
	proxies                                []netip.Prefix
	secretSum                              *[sha256.Size]byte // nil: no secret configured
	certNames                              []string
	secretHeader, userHeader, userIDHeader string
	emailHeader, nameHeader, groupsHeader  string
	separator                              string
	groups                                 []string
	trustEmail                             bool
}

var _ connectors.RequestConnector = (*Connector)(nil)

// Info names the connector.
func (c *Connector) Info() connectors.Info { return c.info }

// Close releases nothing.
func (c *Connector) Close() error { return nil }

// Authenticate returns the identity the proxy asserted, or an error wrapping
// connectors.ErrUntrustedRequest when the request may not be believed.
func (c *Connector) Authenticate(_ context.Context, _ connectors.Scopes, r *http.Request) (connectors.Upstream, error) {
	if !httpx.FromTrustedProxy(r, c.proxies) {
		return connectors.Upstream{}, fmt.Errorf("%w: peer %s is not in web.trusted_proxies", connectors.ErrUntrustedRequest, r.RemoteAddr)
	}
	if c.secretSum != nil && !c.secretMatches(r.Header.Values(c.secretHeader)) {
		return connectors.Upstream{}, fmt.Errorf("%w: %s missing or wrong", connectors.ErrUntrustedRequest, c.secretHeader)
	}
	if len(c.certNames) > 0 && !c.clientCertMatches(r.TLS) {
		return connectors.Upstream{}, fmt.Errorf("%w: no verified client certificate named %s", connectors.ErrUntrustedRequest,
			strings.Join(c.certNames, " or "))
	}
	user, err := single(r.Header, c.userHeader, true)
	if err != nil {
		return connectors.Upstream{}, err
	}
	subject := user
	if c.userIDHeader != "" {
		if subject, err = single(r.Header, c.userIDHeader, true); err != nil {
			return connectors.Upstream{}, err
		}
	}
	email, err := single(r.Header, c.emailHeader, false)
	if err != nil {
		return connectors.Upstream{}, err
	}
	name, err := single(r.Header, c.nameHeader, false)
	if err != nil {
		return connectors.Upstream{}, err
	}
	groups, err := c.parseGroups(r.Header.Values(c.groupsHeader))
	if err != nil {
		return connectors.Upstream{}, err
	}
	return connectors.Upstream{
		Subject: subject, Username: user, Email: email, EmailVerified: email != "" && c.trustEmail, Name: name,
		Groups: groups,
	}, nil
}

// secretMatches compares the one secret header value with the configured secret in constant
// time (hashes of equal length, so not even the length leaks).
func (c *Connector) secretMatches(vals []string) bool {
	if len(vals) != 1 {
		return false
	}
	got := sha256.Sum256([]byte(vals[0]))
	return subtle.ConstantTimeCompare(got[:], c.secretSum[:]) == 1
}

// clientCertMatches reports whether the connection presented a client certificate that the
// listener verified (web.client_ca) and whose subject common name or a DNS name is one of
// client_cert_names.
func (c *Connector) clientCertMatches(cs *tls.ConnectionState) bool {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return false
	}
	leaf := cs.VerifiedChains[0][0]
	return slices.Contains(c.certNames, leaf.Subject.CommonName) ||
		slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return slices.Contains(c.certNames, n) })
}

// single returns the one value of header h: absent is "" (an error when required); sent
// twice, empty when required, too long or not UTF-8 is an error.
func single(hdr http.Header, h string, required bool) (string, error) {
	vals := hdr.Values(h)
	switch {
	case len(vals) == 0 && !required:
		return "", nil
	case len(vals) > 1:
		return "", fmt.Errorf("%w: %s sent %d times", connectors.ErrUntrustedRequest, h, len(vals))
	}
	v := ""
	if len(vals) == 1 {
		v = strings.TrimSpace(vals[0])
	}
	if err := checkValue(h, v); err != nil {
		return "", err
	}
	if v == "" && required {
		return "", fmt.Errorf("%w: %s missing or empty", connectors.ErrUntrustedRequest, h)
	}
	return v, nil
}

func checkValue(h, v string) error {
	if len(v) > maxValueBytes || !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is longer than %d bytes or not UTF-8", connectors.ErrUntrustedRequest, h, maxValueBytes)
	}
	return nil
}

// parseGroups splits every value of the groups header on the separator, trims and drops
// empty names and duplicates, and adds the static groups.
func (c *Connector) parseGroups(vals []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(g string) error {
		if g == "" || seen[g] {
			return nil
		}
		if len(out) == maxGroups {
			return fmt.Errorf("%w: more than %d groups", connectors.ErrUntrustedRequest, maxGroups)
		}
		seen[g] = true
		out = append(out, g)
		return nil
	}
	for _, v := range vals {
		for g := range strings.SplitSeq(v, c.separator) {
			g = strings.TrimSpace(g)
			if err := checkValue(c.groupsHeader, g); err != nil {
				return nil, err
			}
			if err := add(g); err != nil {
				return nil, err
			}
		}
	}
	for _, g := range c.groups {
		if err := add(g); err != nil {
			return nil, err
		}
	}
	return out, nil
}
