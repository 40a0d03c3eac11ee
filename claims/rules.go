package claims

import (
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// LinkPolicy decides what happens when an upstream account logs in for the first time.
type LinkPolicy string

// Link policies (connectors[].claims.link).
const (
	// LinkCreate gives a new upstream account a new internal user.
	LinkCreate LinkPolicy = "create"
	// LinkVerifiedEmail links a new upstream account to the existing user whose linked
	// accounts carry the same verified email; never on an unverified one. Otherwise: create.
	LinkVerifiedEmail LinkPolicy = "link_verified_email"
	// LinkDenyUnknown admits a new upstream account only when its verified email matches an
	// existing user; anyone else is denied.
	LinkDenyUnknown LinkPolicy = "deny_unknown"
)

// Options are what New needs besides the configuration.
type Options struct {
	// Links stores account links. Nil builds a dry-run Normalizer with an in-memory store
	// (for check-config and explain).
	Links  storage.LinkStore
	Now    func() time.Time
	Logger *slog.Logger
}

// ruleset is the compiled claims configuration.
type ruleset struct {
	connectors map[string]*connectorRules
	clients    map[string]*clientRules
	scopes     map[string]*scopeRule
	scopeOrder []string
	salt       string
	pairwise   bool
}

type scopeRule struct {
	name, description string
	claims            []string
}

// connectorRules are one connector's Map, Filter, Authorize and Link settings.
type connectorRules struct {
	id, name    string
	maps        []*expr
	allow, deny []matcher
	rename      map[string]string
	prefix      string
	require     requirement
	link        LinkPolicy
}

// defaultConnector applies to connectors without rules (and to unknown IDs).
func defaultConnector(id string) *connectorRules {
	return &connectorRules{id: id, name: id, link: LinkCreate}
}

type clientRules struct {
	id, name  string
	require   requirement
	extra     []*expr
	hardcoded map[string]any
	// requestable are the claims the client may ask for individually (claims parameter).
	requestable []string
	pairwise    bool
	sector      string
	paths       []pathRule // protected apps only
}

type requirement struct {
	groups  []string
	domains []string
}

func (r requirement) empty() bool { return len(r.groups) == 0 && len(r.domains) == 0 }

// matcher is one allow/deny entry: an exact group name or a regular expression.
type matcher struct {
	src string
	re  *regexp.Regexp // nil: exact match
}

func (m matcher) match(g string) bool {
	if m.re == nil {
		return g == m.src
	}
	return m.re.MatchString(g)
}

// New compiles the claims configuration: every CEL expression (type- and cost-checked),
// group pattern, requirement, custom scope and client setting. Problems are returned as a
// *config.Errors citing file:line. It does no I/O. A link policy other than create needs
// Options.Links to implement storage.EmailLinkStore.
func New(cfg *config.Config, opts Options) (*Normalizer, error) {
	b := &builder{cfg: cfg}
	rs, err := b.build()
	if err != nil {
		return nil, err
	}
	n := &Normalizer{Links: opts.Links, Now: opts.Now, Logger: opts.Logger, rules: rs}
	if opts.Links == nil {
		mem := newDryLinks()
		n.Links, n.newID = mem, mem.nextID
	}
	if _, ok := n.Links.(storage.EmailLinkStore); !ok {
		for i, c := range cfg.Connectors {
			if p := rs.connectors[c.ID]; p != nil && p.link != LinkCreate {
				b.problem(fmt.Sprintf("connectors[%d].claims.link", i),
					"%s needs a storage backend that can look up accounts by verified email, and this one (%T) cannot; use link: create or the sqlite backend",
					p.link, opts.Links)
			}
		}
		if len(b.problems) > 0 {
			return nil, &config.Errors{Problems: b.problems}
		}
	}
	return n, nil
}

type builder struct {
	cfg      *config.Config
	problems []*config.Problem
}

func (b *builder) problem(path, format string, args ...any) {
	file, line := b.cfg.Position(path)
	b.problems = append(b.problems, &config.Problem{File: file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (b *builder) build() (*ruleset, error) {
	upEnv, err := newEnv(upstreamVars)
	if err != nil {
		return nil, err
	}
	idEnv, err := newEnv(identityVars)
	if err != nil {
		return nil, err
	}
	rs := &ruleset{
		connectors: map[string]*connectorRules{},
		clients:    map[string]*clientRules{},
		scopes:     map[string]*scopeRule{},
		salt:       b.cfg.PairwiseSalt,
	}
	for i, c := range b.cfg.Connectors {
		p := fmt.Sprintf("connectors[%d].claims", i)
		cc := c.Claims
		name := c.Name
		if name == "" {
			name = c.ID
		}
		cr := &connectorRules{id: c.ID, name: name, rename: cc.Groups.Rename, prefix: cc.Groups.Prefix,
			require: requirementOf(cc.Require), link: LinkPolicy(cc.Link)}
		if cr.link == "" {
			cr.link = LinkCreate
		}
		for _, claim := range slices.Sorted(maps.Keys(cc.Map)) {
			if config.ReservedClaim(claim) {
				b.problem(p+".map."+claim, "%q is set by Gatehouse itself and cannot be mapped", claim)
				continue
			}
			e, err := compile(upEnv, claim, cc.Map[claim])
			if err != nil {
				b.problem(p+".map."+claim, "%v", err)
				continue
			}
			cr.maps = append(cr.maps, e)
		}
		cr.allow = b.matchers(p+".groups.allow", cc.Groups.Allow)
		cr.deny = b.matchers(p+".groups.deny", cc.Groups.Deny)
		rs.connectors[c.ID] = cr
	}
	for i, c := range b.cfg.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		name := c.Name
		if name == "" {
			name = c.ID
		}
		cl := &clientRules{id: c.ID, name: name, require: requirementOf(c.Require), hardcoded: c.Claims.Hardcoded,
			requestable: slices.Clone(c.Claims.Requestable), pairwise: c.SubjectType == "pairwise"}
		for _, claim := range slices.Sorted(maps.Keys(c.Claims.Extra)) {
			if config.ReservedClaim(claim) {
				b.problem(p+".claims.extra."+claim, "%q is set by Gatehouse itself and cannot be added", claim)
				continue
			}
			e, err := compile(idEnv, claim, c.Claims.Extra[claim])
			if err != nil {
				b.problem(p+".claims.extra."+claim, "%v", err)
				continue
			}
			cl.extra = append(cl.extra, e)
		}
		if cl.pairwise {
			rs.pairwise = true
			if len(c.RedirectURIs) > 0 {
				cl.sector = config.SectorOf(c.RedirectURIs[0])
			}
			if rs.salt == "" {
				b.problem("pairwise_salt", "is required when a client uses subject_type: pairwise")
			}
		}
		rs.clients[c.ID] = cl
	}
	// A SAML service provider is the pseudo-client "saml:<id>" (samlidp.ClientID): its
	// require is checked by AuthorizeClient exactly as a client's.
	for _, sp := range b.cfg.ServiceProviders {
		name := sp.Name
		if name == "" {
			name = sp.ID
		}
		id := SAMLClientID(sp.ID)
		rs.clients[id] = &clientRules{id: id, name: name, require: requirementOf(sp.Require)}
	}
	// A protected app is the pseudo-client "app:<id>" (AppClientID); its path rules are kept
	// beside it for AuthorizeApp.
	for _, app := range b.cfg.ProtectedApps {
		name := app.Name
		if name == "" {
			name = app.ID
		}
		id := AppClientID(app.ID)
		cl := &clientRules{id: id, name: name, require: requirementOf(app.Require)}
		for _, p := range app.Paths {
			cl.paths = append(cl.paths, pathRule{prefix: p.Prefix, require: requirementOf(p.Require)})
		}
		rs.clients[id] = cl
	}
	for i, sc := range b.cfg.Scopes {
		if config.BuiltinScope(sc.Name) || sc.Name == "" {
			b.problem(fmt.Sprintf("scopes[%d].name", i), "%q cannot be used as a custom scope name", sc.Name)
			continue
		}
		if _, dup := rs.scopes[sc.Name]; dup {
			b.problem(fmt.Sprintf("scopes[%d].name", i), "duplicate scope %q", sc.Name)
			continue
		}
		rs.scopes[sc.Name] = &scopeRule{name: sc.Name, description: sc.Description, claims: slices.Clone(sc.Claims)}
		rs.scopeOrder = append(rs.scopeOrder, sc.Name)
	}
	if len(b.problems) > 0 {
		return nil, &config.Errors{Problems: b.problems}
	}
	return rs, nil
}

func requirementOf(r config.Requirement) requirement {
	out := requirement{groups: slices.Clone(r.Groups)}
	for _, d := range r.EmailDomains {
		out.domains = append(out.domains, strings.ToLower(strings.TrimPrefix(d, "@")))
	}
	return out
}

func (b *builder) matchers(path string, list []string) []matcher {
	var out []matcher
	for i, s := range list {
		if !config.IsGroupPattern(s) {
			out = append(out, matcher{src: s})
			continue
		}
		re, err := regexp.Compile(s)
		if err != nil {
			b.problem(fmt.Sprintf("%s[%d]", path, i), "%q is not a valid regular expression: %v", s, err)
			continue
		}
		out = append(out, matcher{src: s, re: re})
	}
	return out
}

// connector returns a connector's rules (the defaults when it has none).
func (n *Normalizer) connector(id string) *connectorRules {
	if n.rules != nil {
		if cr := n.rules.connectors[id]; cr != nil {
			return cr
		}
	}
	return defaultConnector(id)
}

// client returns a client's rules, or nil.
func (n *Normalizer) client(id string) *clientRules {
	if n.rules == nil {
		return nil
	}
	return n.rules.clients[id]
}

// filterGroups applies allow, deny, rename and prefix, in that order, keeping the first
// occurrence of each resulting name.
func (cr *connectorRules) filterGroups(groups []string, st *TraceStep) []string {
	if len(cr.allow) == 0 && len(cr.deny) == 0 && len(cr.rename) == 0 && cr.prefix == "" {
		st.notef("no group rules")
		return groups
	}
	out := make([]string, 0, len(groups))
	seen := map[string]bool{}
	for _, g := range groups {
		if len(cr.allow) > 0 && !slices.ContainsFunc(cr.allow, func(m matcher) bool { return m.match(g) }) {
			st.notef("%q dropped: matches no allow entry", g)
			continue
		}
		if i := slices.IndexFunc(cr.deny, func(m matcher) bool { return m.match(g) }); i >= 0 {
			st.notef("%q dropped: matches deny entry %q", g, cr.deny[i].src)
			continue
		}
		name := g
		if to, ok := cr.rename[g]; ok {
			name = to
			st.notef("%q renamed to %q", g, to)
		}
		name = cr.prefix + name
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	if cr.prefix != "" {
		st.notef("prefix %q added", cr.prefix)
	}
	st.notef("groups: %q", out)
	return out
}

// authorize checks the connector's requirements. groups are the mapped upstream groups
// (before filtering).
func (cr *connectorRules) authorize(groups []string, id storage.Identity, st *TraceStep) error {
	if cr.require.empty() {
		st.notef("connector %s requires nothing", cr.id)
		return nil
	}
	if reason := cr.require.check(groups, id, "sign in here"); reason != "" {
		st.notef("denied: %s", reason)
		return &connectors.DeniedError{Reason: reason}
	}
	st.notef("connector %s requirements met", cr.id)
	return nil
}

// check returns why id does not meet the requirement, or "". action ends the sentence: "sign
// in here" for a connector, "use <name>" for a client or SAML SP. One rule for everyone: at
// least one of the groups; a verified email whose domain is one of the domains (compared
// case-insensitively, a leading "@" in the configuration ignored, see requirementOf).
func (r requirement) check(groups []string, id storage.Identity, action string) string {
	if len(r.groups) > 0 && !slices.ContainsFunc(r.groups, func(g string) bool { return slices.Contains(groups, g) }) {
		return "your account is not in a group that is allowed to " + action + " (" + strings.Join(r.groups, ", ") + ")"
	}
	if len(r.domains) > 0 {
		if id.Email == "" || !id.EmailVerified {
			return "your account has no verified email address, and one is required to " + action
		}
		_, domain, _ := strings.Cut(strings.ToLower(id.Email), "@")
		if !slices.Contains(r.domains, domain) {
			return "your email address is not in a domain that is allowed to " + action + " (" + strings.Join(r.domains, ", ") + ")"
		}
	}
	return ""
}

// AuthorizeClient checks a client's requirements against a user's final identity, after
// every login and for SSO sessions. A user who does not qualify gets a
// *connectors.DeniedError whose Reason can be shown to them.
func (n *Normalizer) AuthorizeClient(clientID string, id storage.Identity) error {
	cl := n.client(clientID)
	if cl == nil || cl.require.empty() {
		return nil
	}
	if reason := cl.require.check(id.Groups, id, "use "+cl.name); reason != "" {
		return &connectors.DeniedError{Reason: reason}
	}
	return nil
}

// AppClientID is the pseudo-client ID of a protected app (forward auth): its require, path
// rules, MFA policy and allowed connectors are a client's under this ID.
func AppClientID(appID string) string { return "app:" + appID }

// pathRule is a protected app's requirement under a path prefix.
type pathRule struct {
	prefix  string
	require requirement
}

// covers reports whether the rule's prefix covers the clean path p: p is the prefix or lies
// below it ("/admin" covers /admin and /admin/x, not /administrator).
func (pr pathRule) covers(p string) bool {
	return p == pr.prefix || strings.HasPrefix(p, pr.prefix+"/") || pr.prefix == "/"
}

// AuthorizeApp checks a protected app's requirements for a request to urlPath (a clean,
// decoded absolute path): the app's require, then every path rule whose prefix covers the
// path. A user who does not qualify gets a *connectors.DeniedError whose Reason can be shown.
// An unknown app is denied.
func (n *Normalizer) AuthorizeApp(appID, urlPath string, id storage.Identity) error {
	cl := n.client(AppClientID(appID))
	if cl == nil {
		return &connectors.DeniedError{Reason: "this application is not configured"}
	}
	if reason := cl.require.check(id.Groups, id, "use "+cl.name); reason != "" {
		return &connectors.DeniedError{Reason: reason}
	}
	for _, pr := range cl.paths {
		if !pr.covers(urlPath) {
			continue
		}
		if reason := pr.require.check(id.Groups, id, "open "+pr.prefix+" in "+cl.name); reason != "" {
			return &connectors.DeniedError{Reason: reason}
		}
	}
	return nil
}

// SAMLClientID is the pseudo-client ID of a SAML service provider: its require, MFA policy and
// consent are a client's under this ID.
func SAMLClientID(spID string) string { return "saml:" + spID }
