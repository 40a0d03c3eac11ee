// Package dexconfig converts a Dex configuration file into a Gatehouse one (`gatehouse import
// dex`): issuer, web, storage (sqlite3, postgres), staticClients, staticPasswords and the
// connectors ldap, saml, oidc, github, gitlab, google, microsoft and oauth. Every place where
// Gatehouse behaves differently, and every Dex setting without an equivalent, gets a YAML
// comment in the output; nothing is dropped silently.
//
// The input is untrusted text: it is parsed with bounded size and nesting, never executed,
// and no file it names is opened.
package dexconfig

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxInput is the largest Dex configuration Convert reads.
const MaxInput = 1 << 20

// Limits on the parsed document (alias expansion, nesting).
const (
	maxNodes = 100_000
	maxDepth = 64
)

// Convert reads a Dex configuration and returns the Gatehouse configuration, as YAML with
// comments. It fails only on input that is not a YAML mapping (or is too large).
func Convert(data []byte) ([]byte, error) {
	if len(data) > MaxInput {
		return nil, fmt.Errorf("dex configuration larger than %d bytes", MaxInput)
	}
	root, err := parse(data)
	if err != nil {
		return nil, err
	}
	c := &converter{out: mapping()}
	c.convert(root)
	var b bytes.Buffer
	b.WriteString(header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c.out); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return b.Bytes(), nil
}

const header = `# Gatehouse configuration converted from a Dex configuration by "gatehouse import dex".
# Comments starting "dex:" mark where Gatehouse behaves differently or a Dex setting has no
# equivalent. Check the result with: gatehouse check-config FILE
# What changes for apps, operators and users: docs/migrating-from-dex.md
`

// parse decodes one YAML mapping, refusing alias bombs and deep nesting.
func parse(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("invalid YAML: %v", r)
		}
	}()
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the Dex configuration is empty")
		}
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("a Dex configuration is a YAML mapping (issuer:, storage:, ...)")
	}
	n := 0
	if !bounded(doc.Content[0], 0, &n) {
		return nil, errors.New("the Dex configuration is too large or too deeply nested (aliases expand to too much)")
	}
	return doc.Content[0], nil
}

// bounded reports whether n, aliases expanded, stays within maxNodes and maxDepth.
func bounded(n *yaml.Node, depth int, count *int) bool {
	*count++
	if *count > maxNodes || depth > maxDepth {
		return false
	}
	if n.Kind == yaml.AliasNode {
		return n.Alias != nil && bounded(n.Alias, depth+1, count)
	}
	for _, c := range n.Content {
		if !bounded(c, depth+1, count) {
			return false
		}
	}
	return true
}

// dmap is a Dex mapping read key by key; what is not read is reported as not converted.
type dmap struct {
	path string
	keys []string
	vals map[string]*yaml.Node
	used map[string]bool
}

func newDmap(n *yaml.Node, path string) *dmap {
	m := &dmap{path: path, vals: map[string]*yaml.Node{}, used: map[string]bool{}}
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return m
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if _, dup := m.vals[k]; !dup {
			m.keys = append(m.keys, k)
		}
		m.vals[k] = n.Content[i+1]
	}
	return m
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

// node returns the value of key (nil when absent) and marks it read.
func (m *dmap) node(key string) *yaml.Node {
	m.used[key] = true
	return deref(m.vals[key])
}

// str returns a scalar value ("" when absent or not a scalar).
func (m *dmap) str(key string) string {
	n := m.node(key)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// boolean returns a boolean value (false when absent or not a boolean).
func (m *dmap) boolean(key string) bool {
	b, err := strconv.ParseBool(m.str(key))
	return err == nil && b
}

// list returns a list of scalars.
func (m *dmap) list(key string) []string {
	n := m.node(key)
	if n == nil || n.Kind != yaml.SequenceNode {
		if s := scalar(n); s != "" {
			return []string{s}
		}
		return nil
	}
	var out []string
	for _, c := range n.Content {
		if s := scalar(deref(c)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// sub returns a nested mapping.
func (m *dmap) sub(key string) *dmap { return newDmap(m.node(key), join(m.path, key)) }

// items returns the mappings of a list.
func (m *dmap) items(key string) []*dmap {
	n := m.node(key)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	var out []*dmap
	for i, c := range n.Content {
		out = append(out, newDmap(c, fmt.Sprintf("%s[%d]", join(m.path, key), i)))
	}
	return out
}

// unread lists the keys present but not read, in file order.
func (m *dmap) unread() []string {
	var out []string
	for _, k := range m.keys {
		if !m.used[k] {
			out = append(out, k)
		}
	}
	return out
}

// present reports whether key is set (without marking it read).
func (m *dmap) present(key string) bool { _, ok := m.vals[key]; return ok }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Output building: mappings whose keys carry the comments.

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func strNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.ContainsAny(s, "$*:#{}[],&!|>'\"%@`") || s == "" {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func intNode(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

func listNode(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range items {
		n.Content = append(n.Content, strNode(s))
	}
	return n
}

// put sets key to val in m with the given comment lines above it (each "dex: ...").
func put(m *yaml.Node, key string, val *yaml.Node, notes ...string) {
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	if len(notes) > 0 {
		k.HeadComment = comment(notes)
	}
	m.Content = append(m.Content, k, val)
}

// putStr sets key to s unless s is empty.
func putStr(m *yaml.Node, key, s string, notes ...string) {
	if s != "" {
		put(m, key, strNode(s), notes...)
	}
}

func comment(notes []string) string {
	var lines []string
	for _, n := range notes {
		lines = append(lines, "dex: "+n)
	}
	return strings.Join(lines, "\n")
}

// converter holds the output and the notes that have no key of their own.
type converter struct {
	out   *yaml.Node
	notes []string // top-level notes, written above the first key
}

func (c *converter) note(format string, args ...any) {
	c.notes = append(c.notes, fmt.Sprintf(format, args...))
}

// notConverted notes every key of m that was not read.
func (c *converter) notConverted(m *dmap, why string) {
	for _, k := range m.unread() {
		c.note("%s is not converted: %s", join(m.path, k), why)
	}
}

// convert converts the whole document.
func (c *converter) convert(root *yaml.Node) {
	d := newDmap(root, "")
	issuer := d.str("issuer")
	c.issuer(issuer)
	c.web(d.sub("web"), issuer)
	c.storage(d.sub("storage"))
	c.logger(d.sub("logger"))
	c.expiry(d.sub("expiry"))
	skipApproval := c.oauth2(d.sub("oauth2"))
	c.clients(d.items("staticClients"), skipApproval)
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	passwordDB := d.boolean("enablePasswordDB")
	users := d.items("staticPasswords")
	if passwordDB || len(users) > 0 {
		seq.Content = append(seq.Content, c.localConnector(passwordDB))
	}
	for _, cn := range d.items("connectors") {
		if n := c.connector(cn); n != nil {
			seq.Content = append(seq.Content, n)
		}
	}
	if len(seq.Content) > 0 {
		put(c.out, "connectors", seq,
			"the callback URL of every redirect connector changes: Dex used {issuer}/callback for all of them, Gatehouse uses {issuer}/callback/{id} (SAML: {issuer}/saml/sp/{id}/acs); register the new URL with each upstream",
			"sub changes: Dex's sub is base64(protobuf{user ID, connector ID}); Gatehouse's is an ID of its own per linked account (docs/migrating-from-dex.md says how apps keep users)")
	}
	if len(users) > 0 {
		c.users(users)
	}
	for _, k := range []string{"frontend", "telemetry", "grpc"} {
		if d.present(k) {
			d.used[k] = true
			c.note("%s is not converted: %s", k, map[string]string{
				"frontend":  "Gatehouse has its own pages; a theme goes in web.templates_dir (docs/architecture.md)",
				"telemetry": "Gatehouse serves /metrics and health on admin.http (docs/observability.md)",
				"grpc":      "Gatehouse's admin API is not Dex's gRPC API",
			}[k])
		}
	}
	c.notConverted(d, "Gatehouse has no equivalent")
	if len(c.notes) > 0 && len(c.out.Content) > 0 {
		k := c.out.Content[0]
		k.HeadComment = strings.TrimSpace(comment(c.notes) + "\n" + k.HeadComment)
	}
}

func (c *converter) issuer(issuer string) {
	if issuer == "" {
		put(c.out, "issuer", strNode("http://127.0.0.1:5556"), "the Dex configuration has no issuer; set the URL apps use")
		return
	}
	put(c.out, "issuer", strNode(issuer),
		"the same issuer: apps that read the discovery document find every endpoint; apps with endpoints written in their own configuration must update them (Dex's /auth is Gatehouse's /authorize; /token, /keys and /userinfo stay: see {issuer}/.well-known/openid-configuration)")
}

func (c *converter) web(w *dmap, issuer string) {
	out := mapping()
	if h := w.str("http"); h != "" {
		putStr(out, "http", h, listenNotes(h, issuer)...)
	}
	if h := w.str("https"); h != "" {
		putStr(out, "https", h)
		putStr(out, "tls_cert", w.str("tlsCert"))
		putStr(out, "tls_key", w.str("tlsKey"))
	}
	if o := w.list("allowedOrigins"); len(o) > 0 {
		put(out, "allowed_origins", listNode(o), "CORS origins for the token, userinfo, JWKS and discovery endpoints, as in Dex")
	}
	if w.present("headers") {
		w.used["headers"] = true
		c.note("web.headers is not converted: Gatehouse sets its own security headers (CSP, HSTS on https, nosniff, frame denial)")
	}
	if w.present("clientRemoteIP") {
		w.used["clientRemoteIP"] = true
		c.note("web.clientRemoteIP is not converted: list the proxies whose X-Forwarded-For is believed in web.trusted_proxies")
	}
	c.notConverted(w, "no Gatehouse equivalent")
	if len(out.Content) > 0 {
		put(c.out, "web", out)
	}
}

// listenNotes warns when Dex listened on every interface with a loopback http issuer.
func listenNotes(listen, issuer string) []string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || (host != "" && host != "0.0.0.0" && host != "::") {
		return nil
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "http" {
		return nil
	}
	return []string{"Dex listened on every interface; Gatehouse serves plain http only for a loopback issuer: put a TLS proxy in front or use web.https"}
}

func (c *converter) storage(s *dmap) {
	out := mapping()
	cfg := s.sub("config")
	note := "Gatehouse starts with an empty database: Dex's refresh tokens, sessions, signing keys and offline sessions are not imported; users sign in again and apps get new tokens"
	switch t := s.str("type"); t {
	case "sqlite3":
		put(out, "type", strNode("sqlite"), note)
		file := cfg.str("file")
		if file == "" || file == ":memory:" {
			file = "gatehouse.db"
		} else {
			file = siblingFile(file)
		}
		put(out, "config", mapFrom("file", file), "a new file beside Dex's: the schemas differ, Dex's database is left as it is")
	case "postgres":
		put(out, "type", strNode("postgres"), note, "use a new database (or schema): the schemas differ")
		pc := mapping()
		putStr(pc, "host", cfg.str("host"))
		if p, err := strconv.Atoi(cfg.str("port")); err == nil && p > 0 {
			put(pc, "port", intNode(p))
		}
		putStr(pc, "database", cfg.str("database"))
		putStr(pc, "user", cfg.str("user"))
		putStr(pc, "password", cfg.str("password"))
		ssl := cfg.sub("ssl")
		putStr(pc, "ssl_mode", ssl.str("mode"))
		putStr(pc, "ssl_root_cert", ssl.str("caFile"))
		if n, err := strconv.Atoi(cfg.str("maxOpenConns")); err == nil && n > 0 {
			put(pc, "max_conns", intNode(n))
		}
		if n, err := strconv.Atoi(cfg.str("connectionTimeout")); err == nil && n > 0 {
			put(pc, "connect_timeout", strNode(strconv.Itoa(n)+"s"))
		}
		if len(pc.Content) == 0 {
			putStr(pc, "host", "localhost", "the Dex configuration names no PostgreSQL host")
		}
		put(out, "config", pc)
		c.notConverted(ssl, "client certificates for PostgreSQL are not supported; use a DSN with sslcert/sslkey in storage.config.dsn")
	case "":
		put(out, "type", strNode("sqlite"), "the Dex configuration has no storage; SQLite in gatehouse.db")
		put(out, "config", mapFrom("file", "gatehouse.db"))
	default:
		put(out, "type", strNode("sqlite"), fmt.Sprintf("Dex storage type %q has no Gatehouse equivalent (sqlite or postgres); SQLite in gatehouse.db, change as needed", t), note)
		put(out, "config", mapFrom("file", "gatehouse.db"))
		cfg = newDmap(nil, cfg.path)
	}
	c.notConverted(cfg, "no Gatehouse equivalent")
	c.notConverted(s, "no Gatehouse equivalent")
	put(c.out, "storage", out)
}

// siblingFile is a Gatehouse database file beside a Dex one: /var/dex/dex.db ->
// /var/dex/gatehouse.db.
func siblingFile(dexFile string) string {
	i := strings.LastIndexAny(dexFile, "/\\")
	return dexFile[:i+1] + "gatehouse.db"
}

func mapFrom(key, val string) *yaml.Node {
	m := mapping()
	put(m, key, strNode(val))
	return m
}

func (c *converter) logger(l *dmap) {
	out := mapping()
	if lv := strings.ToLower(l.str("level")); lv != "" {
		if !slices.Contains([]string{"debug", "info", "warn", "error"}, lv) {
			c.note("logger.level %q is not a Gatehouse level (debug, info, warn, error); info is used", lv)
			lv = "info"
		}
		put(out, "level", strNode(lv))
	}
	if f := l.str("format"); f == "text" || f == "json" {
		put(out, "format", strNode(f))
	} else if f != "" {
		c.note("logger.format %q is not converted (text or json)", f)
	}
	c.notConverted(l, "no Gatehouse equivalent")
	if len(out.Content) > 0 {
		put(c.out, "logging", out)
	}
}

func (c *converter) expiry(e *dmap) {
	out := mapping()
	for _, m := range []struct{ dex, gh string }{{"idTokens", "id_tokens"}, {"signingKeys", "signing_keys"}, {"authRequests", "auth_requests"}} {
		putStr(out, m.gh, e.str(m.dex))
	}
	if v := e.str("idTokens"); v != "" {
		putStr(out, "access_tokens", v, "Dex's access tokens live as long as its ID tokens")
	}
	if e.present("deviceRequests") {
		e.used["deviceRequests"] = true
		c.note("expiry.deviceRequests is not converted: Gatehouse device codes live 10 minutes")
	}
	r := e.sub("refreshTokens")
	rt := mapping()
	putStr(rt, "absolute", r.str("absoluteLifetime"))
	putStr(rt, "idle", r.str("validIfNotUsedFor"))
	putStr(rt, "reuse_grace", r.str("reuseInterval"))
	if r.boolean("disableRotation") {
		c.note("expiry.refreshTokens.disableRotation is not converted: Gatehouse always rotates refresh tokens (reuse of a rotated token within reuse_grace is a retry; after it, the family is revoked)")
	}
	c.notConverted(r, "no Gatehouse equivalent")
	if len(rt.Content) > 0 {
		put(out, "refresh_tokens", rt)
	}
	c.notConverted(e, "no Gatehouse equivalent")
	if len(out.Content) > 0 {
		put(c.out, "expiry", out)
	}
}

// oauth2 reads Dex's oauth2 section; it returns skipApprovalScreen.
func (c *converter) oauth2(o *dmap) bool {
	skip := o.boolean("skipApprovalScreen")
	if rt := o.list("responseTypes"); len(rt) > 0 && !slices.Equal(rt, []string{"code"}) {
		c.note("oauth2.responseTypes %v: Gatehouse issues codes only (response_type=code; the implicit and hybrid flows are not supported)", rt)
	}
	if gt := o.list("grantTypes"); len(gt) > 0 {
		c.note("oauth2.grantTypes %v: Gatehouse allows grants per client (clients[].grant_types)", gt)
	}
	if pc := o.str("passwordConnector"); pc != "" {
		c.note("oauth2.passwordConnector %q is not converted: Gatehouse has no resource-owner password grant (RFC 9700 forbids it)", pc)
	}
	if o.boolean("alwaysShowLoginScreen") {
		c.note("oauth2.alwaysShowLoginScreen is not converted: with one connector Gatehouse goes straight to it; with several it shows the choice")
	}
	c.notConverted(o, "no Gatehouse equivalent")
	return skip
}

// envRef is a Gatehouse ${VAR} reference for a Dex secretEnv.
func envRef(name string) string { return "${" + name + "}" }

func (c *converter) clients(list []*dmap, skipApproval bool) {
	if len(list) == 0 {
		return
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, cl := range list {
		out := mapping()
		id := cl.str("id")
		if id == "" {
			id = cl.str("idEnv")
			if id != "" {
				id = envRef(id)
			}
		}
		putStr(out, "id", id)
		putStr(out, "name", cl.str("name"))
		public := cl.boolean("public")
		switch secret, env := cl.str("secret"), cl.str("secretEnv"); {
		case public:
			put(out, "public", boolNode(true), "a public client must use PKCE (S256) in Gatehouse; Dex did not require it")
		case env != "":
			put(out, "secret", strNode(envRef(env)), "from the environment, as Dex's secretEnv")
		case secret != "":
			put(out, "secret", strNode(secret))
		default:
			put(out, "secret", strNode("${"+envName(id)+"_SECRET}"), "Dex had no secret for this confidential client: set one in the environment")
		}
		uris := cl.list("redirectURIs")
		var notes []string
		if public {
			notes = append(notes, "Dex also accepted http://localhost and urn:ietf:wg:oauth:2.0:oob for public clients without listing them; Gatehouse matches exactly: list every URI")
		}
		if len(uris) == 0 {
			uris = []string{"https://app.example.com/callback"}
			notes = append(notes, "the Dex client had no redirectURIs: replace this placeholder")
		}
		put(out, "redirect_uris", listNode(uris), notes...)
		if skipApproval {
			put(out, "trusted", boolNode(true), "oauth2.skipApprovalScreen: true in Dex: a trusted client skips the consent page")
		}
		if peers := cl.list("trustedPeers"); len(peers) > 0 {
			c.note("%s.trustedPeers %v is not converted: Gatehouse has no cross-client audience; use token exchange (RFC 8693) or clients[].allowed_audiences", cl.path, peers)
		}
		if cl.present("logoURL") {
			cl.used["logoURL"] = true
			c.note("%s.logoURL is not converted: Gatehouse's consent page shows the client's name", cl.path)
		}
		c.notConverted(cl, "no Gatehouse equivalent")
		seq.Content = append(seq.Content, out)
	}
	put(c.out, "clients", seq)
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9]+`)

// envName is an environment variable name made of an ID.
func envName(id string) string {
	n := strings.ToUpper(strings.Trim(nonName.ReplaceAllString(id, "_"), "_"))
	if n == "" || (n[0] >= '0' && n[0] <= '9') {
		n = "CLIENT_" + n
	}
	return n
}

func (c *converter) localConnector(enabled bool) *yaml.Node {
	out := mapping()
	put(out, "type", strNode("local"), "Dex's password database (enablePasswordDB, staticPasswords): users sign in with their email as in Dex, or their username")
	put(out, "id", strNode("local"))
	put(out, "name", strNode("Username or email and password"))
	if !enabled {
		out.Content[0].HeadComment += "\ndex: enablePasswordDB was off but staticPasswords are listed: Gatehouse signs them in through this connector"
	}
	return out
}

func (c *converter) users(list []*dmap) {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	seen := map[string]bool{}
	for _, u := range list {
		out := mapping()
		email := u.str("email")
		name := u.str("username")
		username := usernameFor(name, email, seen)
		var notes []string
		if username != name {
			notes = append(notes, fmt.Sprintf("a unique login name made from the Dex username %q and email", name))
		}
		put(out, "username", strNode(username), notes...)
		putStr(out, "email", email)
		if email != "" {
			put(out, "email_verified", boolNode(true), "Dex reported static users' emails as verified")
		}
		putStr(out, "name", name)
		hash, hnote := bcryptHash(u.str("hash"), u.str("hashFromEnv"))
		if hnote != "" {
			put(out, "password_hash", strNode(hash), hnote)
		} else {
			put(out, "password_hash", strNode(hash))
		}
		if id := u.str("userID"); id != "" {
			c.note("%s.userID %q: Dex's sub for this user was base64(protobuf{%q, \"local\"}); Gatehouse issues its own sub (docs/migrating-from-dex.md)", u.path, id, id)
		}
		c.notConverted(u, "no Gatehouse equivalent")
		seq.Content = append(seq.Content, out)
	}
	put(c.out, "users", seq, "users of the local connector; passwords keep their bcrypt hashes")
}

var usernameRe = regexp.MustCompile(`[^A-Za-z0-9._@-]+`)

// usernameFor is a unique login name: Dex's username, else the email.
func usernameFor(name, email string, seen map[string]bool) string {
	u := strings.TrimSpace(usernameRe.ReplaceAllString(name, "-"))
	if u == "" {
		u = strings.TrimSpace(email)
	}
	if u == "" {
		u = "user"
	}
	base := u
	for i := 2; seen[u]; i++ {
		u = fmt.Sprintf("%s-%d", base, i)
	}
	seen[u] = true
	return u
}

// bcryptHash is the user's bcrypt hash; Dex also accepted it base64-encoded, or from an
// environment variable.
func bcryptHash(h, env string) (string, string) {
	switch {
	case env != "":
		return envRef(env), "from the environment, as Dex's hashFromEnv"
	case strings.HasPrefix(h, "$2"):
		return h, ""
	case h != "":
		if b, err := base64.StdEncoding.DecodeString(h); err == nil && bytes.HasPrefix(b, []byte("$2")) {
			return string(b), "Dex's base64-encoded hash, decoded"
		}
		return "$2a$10$" + strings.Repeat("x", 53), "Dex's hash is not a bcrypt hash: set one with gatehouse hash-password"
	}
	return "$2a$10$" + strings.Repeat("x", 53), "Dex had no hash for this user: set one with gatehouse hash-password"
}
