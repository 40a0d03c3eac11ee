package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// PresetActiveDirectory is the preset value that fills Active Directory defaults.
const PresetActiveDirectory = "active_directory"

// Defaults used when the configuration leaves a value empty.
const (
	DefaultPrompt         = "Username"
	DefaultConnectTimeout = 5 * time.Second
	DefaultTimeout        = 10 * time.Second
	DefaultPoolSize       = 8
	DefaultMaxDepth       = 16
	DefaultPageSize       = 500
)

// Config configures the LDAP connector. It implements connectors.Config. Field names follow
// the YAML keys; see the package documentation for the behaviour.
type Config struct {
	// Host is one directory, "host:port" or an ldap:// or ldaps:// URL. Without a scheme the
	// connection is LDAPS, or plain LDAP when start_tls or insecure_no_tls is set.
	Host string `yaml:"host"`
	// Hosts lists several directories, tried in order (failover). Exclusive with Host.
	Hosts []string `yaml:"hosts"`
	// StartTLS connects with ldap:// and upgrades with the StartTLS extended operation.
	StartTLS bool `yaml:"start_tls"`
	// InsecureNoTLS allows plain, unencrypted ldap://.
	InsecureNoTLS bool `yaml:"insecure_no_tls"`
	// InsecureSkipVerify disables certificate verification (testing only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// RootCA is a PEM file of CAs to trust instead of the system roots.
	RootCA string `yaml:"root_ca"`
	// RootCAData is PEM text of CAs to trust instead of the system roots.
	RootCAData string `yaml:"root_ca_data"`
	// ClientCert and ClientKey are PEM files for mutual TLS.
	ClientCert string `yaml:"client_cert"`
	ClientKey  string `yaml:"client_key"`
	// BindDN and BindPassword are the service account used for searches. Both empty means
	// anonymous searches.
	BindDN       string `yaml:"bind_dn"`
	BindPassword string `yaml:"bind_password" secret:"file"`
	// UsernamePrompt labels the username field of the login form.
	UsernamePrompt string `yaml:"username_prompt"`
	// Preset "active_directory" fills Active Directory defaults for empty settings.
	Preset string `yaml:"preset"`

	UserSearch  UserSearch  `yaml:"user_search"`
	GroupSearch GroupSearch `yaml:"group_search"`

	// ConnectTimeout bounds a TCP connect plus TLS handshake (default 5s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Timeout bounds one LDAP operation (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// PoolSize is the number of connections kept per pool (default 8).
	PoolSize int `yaml:"pool_size"`
	// PageSize is the RFC 2696 page size of searches (default 500).
	PageSize int `yaml:"page_size"`
	// TrustEmail reports the email attribute as verified (default false). Directories often
	// let users edit their own mail ("by self write"), so a mail value proves nothing unless
	// the operator knows only administrators can set it.
	TrustEmail bool `yaml:"trust_email"`
	// Kerberos, when set, also signs in browsers that send a Kerberos ticket (SPNEGO).
	Kerberos *Kerberos `yaml:"kerberos"`
}

// VerifiesEmail implements connectors.EmailVerifier: only with trust_email.
func (c *Config) VerifiesEmail() (bool, string) { return c.TrustEmail, "trust_email" }

// ValidateAttribute implements connectors.AttributeValidator: a claims rule may read any
// attribute but those holding password material.
func (c *Config) ValidateAttribute(name string) error { return requestableAttr(name) }

// UserSearch says where users are and which attributes mean what.
type UserSearch struct {
	BaseDN string `yaml:"base_dn"`
	// Filter restricts the entries that may log in, e.g. (objectClass=person).
	Filter string `yaml:"filter"`
	// Username lists the attributes a user may type to log in (any of them matches).
	Username []string `yaml:"username"`
	// IDAttr is the stable ID (entryUUID; AD: objectGUID, encoded as a GUID string).
	IDAttr                string `yaml:"id_attr"`
	EmailAttr             string `yaml:"email_attr"`
	NameAttr              string `yaml:"name_attr"`
	PreferredUsernameAttr string `yaml:"preferred_username_attr"`
	// Attributes are read from the user entry besides the ones above and reported in the
	// upstream identity's attrs, for claims rules (attributes the rules name with a constant
	// key are requested without being listed here).
	Attributes []string `yaml:"attributes"`
}

// GroupSearch says where groups are and how a group names its members. An empty BaseDN
// disables group lookup.
type GroupSearch struct {
	BaseDN string `yaml:"base_dn"`
	Filter string `yaml:"filter"`
	// UserMatchers: a group has the user as member when group_attr equals the user's
	// user_attr ("DN" means the user's DN). Any matcher counts.
	UserMatchers []UserMatcher `yaml:"user_matchers"`
	NameAttr     string        `yaml:"name_attr"`
	// Nested counts groups that contain a group the user is in (through DN matchers).
	Nested bool `yaml:"nested"`
	// MaxDepth bounds nested traversal (default 16 levels).
	MaxDepth int `yaml:"max_depth"`
}

// UserMatcher pairs a user attribute with the group attribute that holds it.
type UserMatcher struct {
	UserAttr  string `yaml:"user_attr"`
	GroupAttr string `yaml:"group_attr"`
}

var (
	_ connectors.Config             = (*Config)(nil)
	_ connectors.AttributeValidator = (*Config)(nil)
)

// withDefaults returns a copy with the preset and the defaults filled in.
func (c *Config) withDefaults() Config {
	d := *c
	d.Hosts = append([]string(nil), c.Hosts...)
	d.UserSearch.Username = append([]string(nil), c.UserSearch.Username...)
	d.UserSearch.Attributes = append([]string(nil), c.UserSearch.Attributes...)
	d.GroupSearch.UserMatchers = append([]UserMatcher(nil), c.GroupSearch.UserMatchers...)
	ad := d.Preset == PresetActiveDirectory

	us, gs := &d.UserSearch, &d.GroupSearch
	def := func(p *string, plain, adv string) {
		if *p == "" {
			if ad {
				*p = adv
			} else {
				*p = plain
			}
		}
	}
	def(&us.Filter, "", "(&(objectCategory=person)(objectClass=user))")
	if len(us.Username) == 0 {
		if ad {
			us.Username = []string{"sAMAccountName", "userPrincipalName"}
		} else {
			us.Username = []string{"uid"}
		}
	}
	def(&us.IDAttr, "entryUUID", "objectGUID")
	def(&us.EmailAttr, "mail", "mail")
	def(&us.NameAttr, "cn", "displayName")
	def(&us.PreferredUsernameAttr, us.Username[0], "sAMAccountName")
	def(&gs.Filter, "(objectClass=groupOfNames)", "(objectClass=group)")
	def(&gs.NameAttr, "cn", "cn")
	if len(gs.UserMatchers) == 0 {
		gs.UserMatchers = []UserMatcher{{UserAttr: "DN", GroupAttr: "member"}}
	}
	if gs.MaxDepth == 0 {
		gs.MaxDepth = DefaultMaxDepth
	}
	def(&d.UsernamePrompt, DefaultPrompt, DefaultPrompt)
	if d.ConnectTimeout == 0 {
		d.ConnectTimeout = DefaultConnectTimeout
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultTimeout
	}
	if d.PoolSize == 0 {
		d.PoolSize = DefaultPoolSize
	}
	if d.PageSize == 0 {
		d.PageSize = DefaultPageSize
	}
	if c.Kerberos != nil {
		k := c.Kerberos.withDefaults(ad, us.Username)
		d.Kerberos = &k
	}
	return d
}

// server is one parsed entry of host/hosts.
type server struct {
	url      string // ldap://host:port or ldaps://host:port
	host     string // for TLS ServerName
	tls      bool   // LDAPS
	startTLS bool
}

// parseHost parses one host entry under the TLS settings.
func (c *Config) parseHost(h string) (server, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return server{}, errors.New("empty host")
	}
	scheme := ""
	rest := h
	if i := strings.Index(h, "://"); i >= 0 {
		scheme, rest = strings.ToLower(h[:i]), h[i+3:]
		if scheme != "ldap" && scheme != "ldaps" {
			return server{}, fmt.Errorf("%q: scheme must be ldap:// or ldaps://", h)
		}
		if strings.ContainsAny(rest, "/?#") {
			rest = strings.TrimRight(rest, "/")
			if strings.ContainsAny(rest, "/?#") {
				return server{}, fmt.Errorf("%q: a host takes no path or query", h)
			}
		}
	}
	if scheme == "" {
		if c.StartTLS || c.InsecureNoTLS {
			scheme = "ldap"
		} else {
			scheme = "ldaps"
		}
	}
	switch {
	case scheme == "ldaps" && c.StartTLS:
		return server{}, fmt.Errorf("%q: start_tls cannot be used with ldaps://", h)
	case scheme == "ldaps" && c.InsecureNoTLS:
		return server{}, fmt.Errorf("%q: insecure_no_tls cannot be used with ldaps://", h)
	case scheme == "ldap" && !c.StartTLS && !c.InsecureNoTLS:
		return server{}, fmt.Errorf("%q: plain ldap:// sends passwords in clear: set start_tls: true, use ldaps://, or set insecure_no_tls: true", h)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		host, port = rest, ""
		if strings.Contains(rest, ":") && !strings.HasPrefix(rest, "[") {
			return server{}, fmt.Errorf("%q: invalid host:port", h)
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if host == "" {
		return server{}, fmt.Errorf("%q: missing host name", h)
	}
	if port == "" {
		port = "389"
		if scheme == "ldaps" {
			port = "636"
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return server{}, fmt.Errorf("%q: invalid port %q", h, port)
	}
	return server{
		url:      scheme + "://" + net.JoinHostPort(host, port),
		host:     host,
		tls:      scheme == "ldaps",
		startTLS: scheme == "ldap" && c.StartTLS,
	}, nil
}

// hostList returns Host and Hosts as one list.
func (c *Config) hostList() []string {
	if c.Host != "" {
		return append([]string{c.Host}, c.Hosts...)
	}
	return c.Hosts
}

// attrNameOK reports whether s is a plausible attribute description (name or OID, options).
func attrNameOK(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '.' && r != ';' {
			return false
		}
	}
	return true
}

// Validate reports every problem with the configuration. It does no I/O (root_ca and the
// client certificate files are read by Open).
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	d := c.withDefaults()

	switch c.Preset {
	case "", PresetActiveDirectory:
	default:
		add("preset: %q is not known (use %q or leave it empty)", c.Preset, PresetActiveDirectory)
	}
	if c.Host != "" && len(c.Hosts) > 0 {
		add("host and hosts: set one of them, not both")
	}
	if len(c.hostList()) == 0 {
		add("host: required (or hosts)")
	}
	for i, h := range c.hostList() {
		if _, err := c.parseHost(h); err != nil {
			key := fmt.Sprintf("hosts[%d]", i)
			if c.Host != "" {
				key = "host"
				if i > 0 {
					key = fmt.Sprintf("hosts[%d]", i-1)
				}
			}
			add("%s: %w", key, err)
		}
	}
	if c.StartTLS && c.InsecureNoTLS {
		add("start_tls and insecure_no_tls: choose one")
	}
	if c.InsecureNoTLS && c.InsecureSkipVerify {
		add("insecure_skip_verify: meaningless with insecure_no_tls")
	}
	if c.RootCA != "" && c.RootCAData != "" {
		add("root_ca and root_ca_data: set one of them, not both")
	}
	if c.RootCAData != "" {
		if _, err := certPool([]byte(c.RootCAData)); err != nil {
			add("root_ca_data: %w", err)
		}
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		add("client_cert and client_key: set both or neither")
	}
	if c.BindDN != "" && c.BindPassword == "" {
		add("bind_password: required with bind_dn (an empty password would be an anonymous bind)")
	}
	if c.BindDN == "" && c.BindPassword != "" {
		add("bind_dn: required with bind_password")
	}
	if c.BindDN != "" {
		if err := checkBindName(c.BindDN, c.Preset == PresetActiveDirectory); err != nil {
			add("bind_dn: %w", err)
		}
	}
	if len(d.UsernamePrompt) > 64 || strings.ContainsAny(d.UsernamePrompt, "\r\n") {
		add("username_prompt: must be one line of at most 64 bytes")
	}
	if c.ConnectTimeout < 0 || c.Timeout < 0 {
		add("connect_timeout and timeout: must not be negative")
	}
	if c.PoolSize < 0 || c.PoolSize > 1024 {
		add("pool_size: %d outside [1, 1024]", c.PoolSize)
	}
	if c.PageSize < 0 || c.PageSize > 100000 {
		add("page_size: %d outside [1, 100000]", c.PageSize)
	}

	us := d.UserSearch
	if us.BaseDN == "" {
		add("user_search.base_dn: required")
	} else if _, err := goldap.ParseDN(us.BaseDN); err != nil {
		add("user_search.base_dn: not a valid DN: %w", err)
	}
	if us.Filter != "" {
		if _, err := goldap.CompileFilter(wrapFilter(us.Filter)); err != nil {
			add("user_search.filter: %w", err)
		}
	}
	for i, a := range us.Username {
		if !attrNameOK(a) {
			add("user_search.username[%d]: %q is not an attribute name", i, a)
		}
	}
	for i, a := range us.Attributes {
		if err := requestableAttr(a); err != nil {
			add("user_search.attributes[%d]: %w", i, err)
		}
	}
	for _, f := range []struct{ key, v string }{
		{"id_attr", us.IDAttr}, {"email_attr", us.EmailAttr}, {"name_attr", us.NameAttr},
		{"preferred_username_attr", us.PreferredUsernameAttr},
	} {
		if !attrNameOK(f.v) {
			add("user_search.%s: %q is not an attribute name", f.key, f.v)
		}
	}

	gs := d.GroupSearch
	if gs.BaseDN != "" {
		if _, err := goldap.ParseDN(gs.BaseDN); err != nil {
			add("group_search.base_dn: not a valid DN: %w", err)
		}
		if _, err := goldap.CompileFilter(wrapFilter(gs.Filter)); err != nil {
			add("group_search.filter: %w", err)
		}
		if !attrNameOK(gs.NameAttr) {
			add("group_search.name_attr: %q is not an attribute name", gs.NameAttr)
		}
		hasDN := false
		for i, m := range gs.UserMatchers {
			if !strings.EqualFold(m.UserAttr, "DN") && !attrNameOK(m.UserAttr) {
				add("group_search.user_matchers[%d].user_attr: %q is not DN nor an attribute name", i, m.UserAttr)
			}
			if !attrNameOK(m.GroupAttr) {
				add("group_search.user_matchers[%d].group_attr: %q is not an attribute name", i, m.GroupAttr)
			}
			hasDN = hasDN || strings.EqualFold(m.UserAttr, "DN")
		}
		if gs.Nested && !hasDN {
			add("group_search.nested: needs a user matcher with user_attr: DN (groups name member groups by DN)")
		}
		if gs.MaxDepth < 0 || gs.MaxDepth > 64 {
			add("group_search.max_depth: %d outside [1, 64]", gs.MaxDepth)
		}
	} else if c.GroupSearch.Filter != "" || len(c.GroupSearch.UserMatchers) > 0 || c.GroupSearch.Nested {
		add("group_search.base_dn: required when group_search is configured")
	}
	if c.Kerberos != nil {
		c.Kerberos.validate(add)
	}
	return errors.Join(errs...)
}

// certPool parses PEM certificates into a pool; it fails when there are none.
func certPool(pemData []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("invalid certificate: %w", err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

// tlsConfig builds the TLS client configuration (reading root_ca and client cert files).
func (c *Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // operator's explicit choice
	switch {
	case c.RootCA != "":
		data, err := os.ReadFile(c.RootCA)
		if err != nil {
			return nil, fmt.Errorf("root_ca: %w", err)
		}
		pool, err := certPool(data)
		if err != nil {
			return nil, fmt.Errorf("root_ca %s: %w", c.RootCA, err)
		}
		tc.RootCAs = pool
	case c.RootCAData != "":
		pool, err := certPool([]byte(c.RootCAData))
		if err != nil {
			return nil, fmt.Errorf("root_ca_data: %w", err)
		}
		tc.RootCAs = pool
	}
	if c.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client_cert/client_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Open builds the connector. It reads the CA and client certificate files but does not
// touch the network: connections are made on first use.
func (c *Config) Open(ctx context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("ldap connector %q: %w", info.ID, err)
	}
	d := c.withDefaults()
	var servers []server
	for _, h := range d.hostList() {
		s, err := d.parseHost(h)
		if err != nil {
			return nil, fmt.Errorf("ldap connector %q: %w", info.ID, err)
		}
		servers = append(servers, s)
	}
	tc, err := d.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("ldap connector %q: %w", info.ID, err)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	logger = logger.With("connector", info.ID)
	dl := &dialer{servers: servers, tls: tc, connectTimeout: d.ConnectTimeout, timeout: d.Timeout, logger: logger}
	svc := func(conn *goldap.Conn) error {
		if d.BindDN == "" {
			return nil
		}
		if err := conn.Bind(d.BindDN, d.BindPassword); err != nil {
			// The error from the server names the DN at most; never the password.
			return fmt.Errorf("service account bind as %q: %w", d.BindDN, err)
		}
		return nil
	}
	var krb *negotiator
	if d.Kerberos != nil {
		if krb, err = openNegotiator(*d.Kerberos, deps.ReplayCache); err != nil {
			return nil, fmt.Errorf("ldap connector %q: %w", info.ID, err)
		}
	}
	conn := &Connector{
		info:   info,
		cfg:    d,
		extra:  claimAttrs(d.UserSearch.Attributes, deps.Attributes, logger),
		ad:     d.Preset == PresetActiveDirectory,
		search: newPool(dl, svc, d.PoolSize),
		binds:  newPool(dl, nil, d.PoolSize),
		logger: logger,
		now:    now,
	}
	if krb != nil {
		return &KerberosConnector{Connector: conn, krb: krb}, nil
	}
	return conn, nil
}
