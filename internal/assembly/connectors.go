package assembly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/web"
)

// DecodedConnector is one connector block decoded into its type's typed config and validated,
// not opened yet.
type DecodedConnector struct {
	Info   connectors.Info
	Config connectors.Config
	// TrustMFA is the connector's trust_upstream_mfa.
	TrustMFA bool
	// Domains are the connector's email domains (home-realm discovery).
	Domains []string
	// UpstreamLogout is the connector's logout: upstream.
	UpstreamLogout bool
}

// DecodeConnectors decodes every connector's config block into its typed config strictly and
// validates it, collecting every problem as a *config.Errors.
func DecodeConnectors(cfg *config.Config, filename string, getenv func(string) string, reg connectors.Registry) ([]DecodedConnector, error) {
	var out []DecodedConnector
	var problems []*config.Problem
	at := func(path, msg string) *config.Problem {
		file, line := cfg.Position(path)
		if file == "" {
			file = filename
		}
		return &config.Problem{File: file, Line: line, Path: path, Message: msg}
	}
	for i, c := range cfg.Connectors {
		path := fmt.Sprintf("connectors[%d]", i)
		cc, err := reg.New(c.Type)
		if err != nil {
			problems = append(problems, at(path+".type", err.Error()))
			continue
		}
		node := c.Config
		if err := config.DecodeStrict(&node, cc, filename, path+".config", getenv); err != nil {
			var ce *config.Errors
			if errors.As(err, &ce) {
				problems = append(problems, ce.Problems...)
			} else {
				problems = append(problems, at(path+".config", err.Error()))
			}
			continue
		}
		if err := cc.Validate(); err != nil {
			problems = append(problems, validateProblems(err, &node, at, path+".config")...)
			continue
		}
		if msg := proxyNeedsProblem(cfg.Web, cc); msg != "" {
			problems = append(problems, at(path+".type", c.Type+msg))
			continue
		}
		if _, ok := web.Icon(c.Icon); c.Icon != "" && !ok {
			problems = append(problems, at(path+".icon", fmt.Sprintf("%q is not a built-in icon (%s)", c.Icon, strings.Join(web.IconNames(), ", "))))
			continue
		}
		name := c.Name
		if name == "" {
			name = web.ProviderName(c.Type)
		}
		if name == "" {
			name = c.ID
		}
		out = append(out, DecodedConnector{Info: connectors.Info{ID: c.ID, Type: c.Type, Name: name, Icon: c.Icon}, Config: cc, TrustMFA: c.TrustUpstreamMFA, Domains: c.Domains,
			UpstreamLogout: c.Logout == config.ConnectorLogoutUpstream})
	}
	if len(problems) > 0 {
		return nil, &config.Errors{Problems: problems}
	}
	byID := make(map[string]connectors.Config, len(out))
	for _, d := range out {
		byID[d.Info.ID] = d.Config
	}
	// Linking by verified email, email-domain and group requirements need connectors that
	// can vouch for emails and groups.
	if err := claims.CheckConnectorTrust(cfg, byID); err != nil {
		return nil, err
	}
	return out, nil
}

// validateProblems turns a connector's Validate error into one problem per error it joins,
// each at the line of the key it names ("user_search.base_dn: required" is reported at that
// key's line in the block), else at the block's config line.
func validateProblems(err error, node *yaml.Node, at func(path, msg string) *config.Problem, path string) []*config.Problem {
	var out []*config.Problem
	for _, e := range flattenErrors(err) {
		msg := e.Error()
		key, rest, ok := strings.Cut(msg, ": ")
		line := 0
		if ok && configKeyRe.MatchString(key) {
			line = keyLine(node, key)
		}
		if line == 0 {
			out = append(out, at(path, msg))
			continue
		}
		p := at(path+"."+key, rest)
		p.Line = line
		out = append(out, p)
	}
	return out
}

// configKeyRe matches a key path as connectors name one in their errors (user_search.base_dn,
// hosts[1], "host and hosts" does not).
var configKeyRe = regexp.MustCompile(`^[a-z][a-z0-9_]*(\[[0-9]+\])?(\.[a-z][a-z0-9_]*(\[[0-9]+\])?)*$`)

// flattenErrors lists the errors err joins (errors.Join, nested), or err itself.
func flattenErrors(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flattenErrors(e)...)
	}
	return out
}

// keyLine is the line of a dotted key path (with [i] list indexes) inside a mapping node, or
// 0 when it is not there.
func keyLine(n *yaml.Node, path string) int {
	line := 0
	for _, seg := range strings.Split(path, ".") {
		name, idx, hasIdx := strings.Cut(strings.TrimSuffix(seg, "]"), "[")
		if n == nil || n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				line, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		if next == nil {
			return line
		}
		n = next
		if hasIdx {
			k, err := strconv.Atoi(idx)
			if err != nil || n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return line
			}
			n = n.Content[k]
			line = n.Line
		}
	}
	return line
}

// ConnectorDeps is what a connector gets when it is opened; Attributes are those its claims
// rules read, so that a connector fetching attributes on request (LDAP) fetches them.
func ConnectorDeps(issuer string, info connectors.Info, norm *claims.Normalizer, logger *slog.Logger,
	httpClient *http.Client, replay connectors.ReplayCache) connectors.Deps {
	return connectors.Deps{
		Logger: logger.With("connector", info.ID), HTTP: httpClient,
		CallbackURL: callbackURL(issuer, info), Now: time.Now, ReplayCache: replay,
		Attributes: norm.Attributes(info.ID),
	}
}

// proxyNeedsProblem is what a connector that believes a front proxy's headers misses in the
// web configuration, or "".
func proxyNeedsProblem(web config.Web, cc connectors.Config) string {
	ph, ok := cc.(connectors.ProxyHeaderConfig)
	if !ok {
		return ""
	}
	switch n := ph.ProxyNeeds(); {
	case n.TrustedProxies && len(web.TrustedProxies) == 0:
		return " believes a front proxy's headers: set web.trusted_proxies to that proxy's address"
	case n.ClientCA && web.ClientCA == "":
		return " checks the proxy's client certificate (config.client_cert_names): set web.https and web.client_ca"
	}
	return ""
}

// callbackURL is where an upstream sends the user back to: {issuer}/callback/{id}, or for
// SAML connectors the assertion consumer service {issuer}/saml/sp/{id}/acs.
func callbackURL(issuer string, info connectors.Info) string {
	base := strings.TrimSuffix(issuer, "/")
	if info.Type == "saml" {
		return base + "/saml/sp/" + info.ID + "/acs"
	}
	return base + "/callback/" + info.ID
}

// openConnectors opens every decoded connector. A connector that fails to open is kept as an
// unavailable slot (its error logged): the others keep working.
func (b *builder) openConnectors(ctx context.Context, decoded []DecodedConnector, norm *claims.Normalizer, proxies []netip.Prefix) error {
	for _, d := range decoded {
		replay, err := newReplayCache(b.store, "replay:connector:"+d.Info.ID+":")
		if err != nil {
			return err
		}
		deps := ConnectorDeps(b.cfg.Issuer, d.Info, norm, b.logger, b.httpClient, replay)
		deps.Now = b.now
		deps.Keys = newConnectorKeys(b.store, d.Info.ID)
		deps.TrustedProxies = proxies
		deps.UpstreamLogout = d.UpstreamLogout
		c, err := d.Config.Open(ctx, d.Info, deps)
		if err != nil {
			b.logger.ErrorContext(ctx, "connector failed to open; it is unavailable, the others keep working", "connector", d.Info.ID, "err", err)
		}
		b.gh.slots = append(b.gh.slots, connset.Slot{Info: d.Info, Conn: c, Err: err, TrustUpstreamMFA: d.TrustMFA, Domains: d.Domains,
			UpstreamLogout: d.UpstreamLogout})
	}
	return nil
}

// parseProxies parses web.trusted_proxies: addresses and CIDR prefixes.
func parseProxies(list []string) ([]netip.Prefix, error) {
	var proxies []netip.Prefix
	for _, p := range list {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return nil, fmt.Errorf("web.trusted_proxies: %q is not an address or CIDR prefix", p)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		proxies = append(proxies, pfx)
	}
	return proxies, nil
}

// LocalUsers adapts storage's local users to the local connector (local.UserSource and
// local.PasswordRehasher).
type LocalUsers struct{ Store storage.LocalUserStore }

var (
	_ local.UserSource       = LocalUsers{}
	_ local.PasswordRehasher = LocalUsers{}
)

// LookupUser implements local.UserSource.
func (l LocalUsers) LookupUser(ctx context.Context, username string) (local.User, error) {
	u, err := l.Store.GetLocalUser(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		return local.User{}, local.ErrUserNotFound
	}
	if err != nil {
		return local.User{}, err
	}
	return localUser(u), nil
}

// LookupUserByEmail implements local.UserSource over the optional
// storage.LocalUserEmailFinder: exactly one user with the email (case-insensitive) is found;
// several are local.ErrAmbiguousEmail.
func (l LocalUsers) LookupUserByEmail(ctx context.Context, email string) (local.User, error) {
	f, ok := l.Store.(storage.LocalUserEmailFinder)
	if !ok {
		return local.User{}, fmt.Errorf("local users by email: %w", errors.ErrUnsupported)
	}
	us, err := f.FindLocalUsersByEmail(ctx, email)
	switch {
	case err != nil:
		return local.User{}, err
	case len(us) == 0:
		return local.User{}, local.ErrUserNotFound
	case len(us) > 1:
		return local.User{}, local.ErrAmbiguousEmail
	}
	return localUser(us[0]), nil
}

func localUser(u storage.LocalUser) local.User {
	return local.User{Username: u.Username, Email: u.Email, Name: u.Name, PasswordHash: u.PasswordHash, EmailVerified: u.EmailVerified, Groups: u.Groups}
}

// ReplacePasswordHash implements local.PasswordRehasher over the optional
// storage.LocalPasswordUpdater (compare-and-swap: a password changed meanwhile wins).
func (l LocalUsers) ReplacePasswordHash(ctx context.Context, username, oldHash, newHash string) error {
	u, ok := l.Store.(storage.LocalPasswordUpdater)
	if !ok {
		return errors.ErrUnsupported
	}
	return u.ReplaceLocalPasswordHash(ctx, username, oldHash, newHash, time.Now().UTC())
}
