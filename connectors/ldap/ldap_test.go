package ldap

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
)

// validConfig is a minimal valid configuration.
func validConfig() *Config {
	return &Config{
		Host:         "ldap.example.org:636",
		BindDN:       "cn=broker,ou=services,dc=example,dc=org",
		BindPassword: "secret",
		UserSearch:   UserSearch{BaseDN: "ou=people,dc=example,dc=org", Filter: "(objectClass=person)", Username: []string{"uid", "mail"}},
		GroupSearch: GroupSearch{BaseDN: "ou=groups,dc=example,dc=org", Filter: "(objectClass=groupOfNames)",
			UserMatchers: []UserMatcher{{UserAttr: "DN", GroupAttr: "member"}}, NameAttr: "cn", Nested: true},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // substrings of the error; none means valid
	}{
		{"valid", func(*Config) {}, nil},
		{"ldaps URL", func(c *Config) { c.Host = "ldaps://dc1.example.org" }, nil},
		{"hosts failover", func(c *Config) { c.Host, c.Hosts = "", []string{"dc1:636", "ldaps://dc2"} }, nil},
		{"start_tls", func(c *Config) { c.Host, c.StartTLS = "ldap://dc1:389", true }, nil},
		{"insecure_no_tls", func(c *Config) { c.Host, c.InsecureNoTLS = "ldap://dc1", true }, nil},
		{"anonymous search", func(c *Config) { c.BindDN, c.BindPassword = "", "" }, nil},
		{"AD preset fills the rest", func(c *Config) {
			c.Preset, c.UserSearch.Filter, c.UserSearch.Username, c.GroupSearch = PresetActiveDirectory, "", nil,
				GroupSearch{BaseDN: "dc=corp,dc=example", Nested: true}
		}, nil},
		{"filter without parentheses", func(c *Config) { c.UserSearch.Filter = "objectClass=person" }, nil},
		{"plain ldap:// refused", func(c *Config) { c.Host = "ldap://dc1" }, []string{"host:", "insecure_no_tls"}},
		{"no host", func(c *Config) { c.Host = "" }, []string{"host: required"}},
		{"host and hosts", func(c *Config) { c.Hosts = []string{"x:636"} }, []string{"host and hosts"}},
		{"bad scheme", func(c *Config) { c.Host = "http://dc1" }, []string{"scheme"}},
		{"bad port", func(c *Config) { c.Host = "dc1:99999" }, []string{"invalid port"}},
		{"path", func(c *Config) { c.Host = "ldaps://dc1/dc=x" }, []string{"no path"}},
		{"bad second host", func(c *Config) { c.Host, c.Hosts = "", []string{"dc1:636", "ldap://dc2"} }, []string{"hosts[1]:"}},
		{"start_tls with ldaps", func(c *Config) { c.Host, c.StartTLS = "ldaps://dc1", true }, []string{"start_tls cannot be used with ldaps"}},
		{"both TLS switches", func(c *Config) { c.Host, c.StartTLS, c.InsecureNoTLS = "dc1:389", true, true }, []string{"choose one"}},
		{"root_ca twice", func(c *Config) { c.RootCA, c.RootCAData = "/x.pem", "x" }, []string{"root_ca and root_ca_data"}},
		{"root_ca_data garbage", func(c *Config) { c.RootCAData = "not pem" }, []string{"root_ca_data: no PEM"}},
		{"client cert without key", func(c *Config) { c.ClientCert = "/c.pem" }, []string{"client_cert and client_key"}},
		{"bind_dn without password", func(c *Config) { c.BindPassword = "" }, []string{"bind_password: required"}},
		{"password without bind_dn", func(c *Config) { c.BindDN = "" }, []string{"bind_dn: required"}},
		{"bad bind_dn", func(c *Config) { c.BindDN = "not a dn" }, []string{"bind_dn: not a valid DN"}},
		{"unknown preset", func(c *Config) { c.Preset = "openldap" }, []string{"preset:"}},
		{"missing user base", func(c *Config) { c.UserSearch.BaseDN = "" }, []string{"user_search.base_dn: required"}},
		{"bad user filter", func(c *Config) { c.UserSearch.Filter = "(&(uid=x)" }, []string{"user_search.filter"}},
		{"bad username attr", func(c *Config) { c.UserSearch.Username = []string{"uid", "u id"} }, []string{"user_search.username[1]"}},
		{"bad group filter", func(c *Config) { c.GroupSearch.Filter = "((" }, []string{"group_search.filter"}},
		{"bad matcher", func(c *Config) { c.GroupSearch.UserMatchers = []UserMatcher{{UserAttr: "", GroupAttr: "member"}} },
			[]string{"user_matchers[0].user_attr", "nested: needs"}},
		{"group settings without base", func(c *Config) { c.GroupSearch.BaseDN = "" }, []string{"group_search.base_dn: required"}},
		{"multi-line prompt", func(c *Config) { c.UsernamePrompt = "a\nb" }, []string{"username_prompt"}},
		{"everything wrong at once", func(c *Config) {
			c.Host, c.BindPassword, c.UserSearch.BaseDN, c.Preset = "ldap://x", "", "", "nope"
		}, []string{"host:", "bind_password", "user_search.base_dn", "preset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want errors with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q, want it to mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("Validate error contains the bind password: %q", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := &Config{Preset: PresetActiveDirectory, Host: "dc1:636", UserSearch: UserSearch{BaseDN: "dc=corp"}}
	d := c.withDefaults()
	if d.UserSearch.IDAttr != "objectGUID" || !slices.Equal(d.UserSearch.Username, []string{"sAMAccountName", "userPrincipalName"}) ||
		d.GroupSearch.Filter != "(objectClass=group)" || d.UserSearch.PreferredUsernameAttr != "sAMAccountName" {
		t.Errorf("AD defaults = %+v", d.UserSearch)
	}
	c = &Config{Host: "x:636", UserSearch: UserSearch{BaseDN: "dc=x"}}
	d = c.withDefaults()
	if d.UserSearch.IDAttr != "entryUUID" || !slices.Equal(d.UserSearch.Username, []string{"uid"}) || d.UsernamePrompt != "Username" ||
		d.GroupSearch.UserMatchers[0] != (UserMatcher{"DN", "member"}) {
		t.Errorf("defaults = %+v", d)
	}
	if c.UserSearch.IDAttr != "" {
		t.Error("withDefaults changed the receiver")
	}
}

func TestParseHost(t *testing.T) {
	tests := []struct {
		cfg  Config
		host string
		want server
	}{
		{Config{}, "dc1", server{url: "ldaps://dc1:636", host: "dc1", tls: true}},
		{Config{}, "dc1:3269", server{url: "ldaps://dc1:3269", host: "dc1", tls: true}},
		{Config{StartTLS: true}, "dc1", server{url: "ldap://dc1:389", host: "dc1", startTLS: true}},
		{Config{InsecureNoTLS: true}, "ldap://10.0.0.1:1389/", server{url: "ldap://10.0.0.1:1389", host: "10.0.0.1"}},
		{Config{}, "ldaps://[::1]:636", server{url: "ldaps://[::1]:636", host: "::1", tls: true}},
		{Config{}, "LDAPS://DC1", server{url: "ldaps://DC1:636", host: "DC1", tls: true}},
	}
	for _, tt := range tests {
		got, err := tt.cfg.parseHost(tt.host)
		if err != nil || got != tt.want {
			t.Errorf("parseHost(%q) = %+v, %v; want %+v", tt.host, got, err, tt.want)
		}
	}
}

// filterShape flattens a compiled filter: node tags, and for assertions the attribute and
// the value.
func filterShape(p *ber.Packet, out *[]string) {
	switch p.Tag {
	case goldap.FilterEqualityMatch, goldap.FilterExtensibleMatch:
		var parts []string
		for _, c := range p.Children {
			parts = append(parts, c.Data.String())
		}
		*out = append(*out, "assert:"+strings.Join(parts, "|"))
		return
	}
	*out = append(*out, "node:"+string(rune('0'+p.Tag))+":"+string(rune('0'+len(p.Children))))
	for _, c := range p.Children {
		filterShape(c, out)
	}
}

func TestUserFilter(t *testing.T) {
	tests := []struct{ username, want string }{
		{"alice", "(&(objectClass=person)(|(uid=alice)(mail=alice)))"},
		{"*)(uid=*", `(&(objectClass=person)(|(uid=\2a\29\28uid=\2a)(mail=\2a\29\28uid=\2a)))`},
		{`a\b`, `(&(objectClass=person)(|(uid=a\5cb)(mail=a\5cb)))`},
		{"zoë", `(&(objectClass=person)(|(uid=zo\c3\ab)(mail=zo\c3\ab)))`},
		{"a\x00b", `(&(objectClass=person)(|(uid=a\00b)(mail=a\00b)))`},
	}
	for _, tt := range tests {
		if got := userFilter("objectClass=person", []string{"uid", "mail"}, tt.username); got != tt.want {
			t.Errorf("userFilter(%q) = %s, want %s", tt.username, got, tt.want)
		}
	}
	if got := userFilter("", []string{"uid"}, "x"); got != "(&(|(uid=x)))" {
		t.Errorf("no base filter: %s", got)
	}
	if _, err := goldap.CompileFilter(userFilter("", []string{"uid"}, "x")); err != nil {
		t.Error(err)
	}
}

func TestMemberFilter(t *testing.T) {
	got := memberFilter("(objectClass=group)", []string{"member"}, []string{"CN=A (x),DC=corp", "CN=B*"}, true)
	want := `(&(objectClass=group)(|(member:1.2.840.113556.1.4.1941:=CN=A \28x\29,DC=corp)(member:1.2.840.113556.1.4.1941:=CN=B\2a)))`
	if got != want {
		t.Errorf("memberFilter = %s, want %s", got, want)
	}
	if _, err := goldap.CompileFilter(got); err != nil {
		t.Error(err)
	}
}

// FuzzUserFilter: whatever the username, the filter compiles to the same structure as for
// a plain username, and every assertion value is exactly the username.
func FuzzUserFilter(f *testing.F) {
	for _, s := range []string{"alice", "*)(uid=*", "*", `\`, "(", ")", "\x00", "zoë", `\2a`, "a)(|(objectClass=*"} {
		f.Add(s)
	}
	attrs := []string{"uid", "mail"}
	ref, err := goldap.CompileFilter(userFilter("(objectClass=person)", attrs, "x"))
	if err != nil {
		f.Fatal(err)
	}
	var refShape []string
	filterShape(ref, &refShape)
	f.Fuzz(func(t *testing.T, username string) {
		p, err := goldap.CompileFilter(userFilter("(objectClass=person)", attrs, username))
		if err != nil {
			t.Fatalf("filter for %q does not compile: %v", username, err)
		}
		var shape []string
		filterShape(p, &shape)
		if len(shape) != len(refShape) {
			t.Fatalf("username %q changed the filter structure: %q vs %q", username, shape, refShape)
		}
		for i := range shape {
			if !strings.HasPrefix(refShape[i], "assert:") {
				if shape[i] != refShape[i] {
					t.Fatalf("username %q changed node %d: %q vs %q", username, i, shape[i], refShape[i])
				}
				continue
			}
			attr, _, _ := strings.Cut(strings.TrimPrefix(refShape[i], "assert:"), "|")
			if want := "assert:" + attr + "|" + username; shape[i] != want && attr != "objectClass" {
				t.Fatalf("username %q: assertion %q, want %q", username, shape[i], want)
			}
		}
	})
}

func TestGUIDAndSID(t *testing.T) {
	b := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	if got, want := guidString(b), "03020100-0504-0706-0809-0a0b0c0d0e0f"; got != want {
		t.Errorf("guidString = %s, want %s", got, want)
	}
	if got := encodeID("objectGUID", b); got != "03020100-0504-0706-0809-0a0b0c0d0e0f" {
		t.Errorf("encodeID(objectGUID) = %s", got)
	}
	sid := []byte{1, 4, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0x15, 0xcd, 0x5b, 0x07, 0x1e, 0x27, 0xf2, 0x4e, 0x50, 0x04, 0, 0}
	if got, want := encodeID("objectSid", sid), "S-1-5-21-123456789-1324492574-1104"; got != want {
		t.Errorf("SID = %s, want %s", got, want)
	}
	if got := encodeID("entryUUID", []byte("0a1b2c3d-0000-1111-2222-333344445555")); got != "0a1b2c3d-0000-1111-2222-333344445555" {
		t.Errorf("entryUUID = %s", got)
	}
	if got := encodeID("nsUniqueId", []byte{0xff, 0xfe}); got != "__4" {
		t.Errorf("binary = %s", got)
	}
	if _, ok := sidString([]byte{1, 2, 0}); ok {
		t.Error("short SID accepted")
	}
}

func TestBindFailure(t *testing.T) {
	diag := func(code string) string {
		return "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data " + code + ", v4563"
	}
	tests := []struct {
		diag   string
		reason string // "" means ErrBadCredentials
	}{
		{diag("52e"), ""},
		{diag("525"), ""},
		{diag("775"), ""}, // AD says locked whatever the password: must not reveal the account
		{diag("530"), "time of day"},
		{diag("531"), "this computer"},
		{diag("532"), "password has expired"},
		{diag("533"), "disabled"},
		{diag("701"), "account has expired"},
		{diag("773"), "must change your password"},
		{diag("52E"), ""},
		{diag("999"), ""},
		{"Invalid credentials", ""},
		{"", ""},
	}
	for _, tt := range tests {
		err := bindFailure(tt.diag)
		var denied *connectors.DeniedError
		switch {
		case tt.reason == "" && !errors.Is(err, connectors.ErrBadCredentials):
			t.Errorf("bindFailure(%q) = %v, want ErrBadCredentials", tt.diag, err)
		case tt.reason != "" && (!errors.As(err, &denied) || !strings.Contains(denied.Reason, tt.reason)):
			t.Errorf("bindFailure(%q) = %v, want a denial mentioning %q", tt.diag, err, tt.reason)
		}
	}
	if got := describeBindFailure(diag("775"), nil); got != "AD 775: account locked out" {
		t.Errorf("describe = %q", got)
	}
}

func TestADTime(t *testing.T) {
	if _, ok := adTime("0"); ok {
		t.Error("0 is never")
	}
	if _, ok := adTime("9223372036854775807"); ok {
		t.Error("max is never")
	}
	got, ok := adTime("116444736000000000")
	if !ok || !got.Equal(time.Unix(0, 0)) {
		t.Errorf("epoch = %v %v", got, ok)
	}
}

func TestParseRangeAttr(t *testing.T) {
	tests := []struct {
		in     string
		name   string
		lo, hi int
		ok     bool
	}{
		{"member;range=0-1499", "member", 0, 1499, true},
		{"member;range=1500-*", "member", 1500, -1, true},
		{"Member;Range=3-5", "Member", 3, 5, true},
		{"member;binary;range=0-9", "member;binary", 0, 9, true},
		{"member", "", 0, 0, false},
		{"member;range=5-1", "", 0, 0, false},
		{"member;range=x-1", "", 0, 0, false},
		{"member;range=1", "", 0, 0, false},
	}
	for _, tt := range tests {
		name, lo, hi, ok := parseRangeAttr(tt.in)
		if name != tt.name || lo != tt.lo || hi != tt.hi || ok != tt.ok {
			t.Errorf("parseRangeAttr(%q) = %q %d %d %v", tt.in, name, lo, hi, ok)
		}
	}
}

func TestNormalizeDN(t *testing.T) {
	if normalizeDN("CN=Dev,OU=Groups,DC=Corp") != normalizeDN("cn=dev, ou=groups, dc=corp") {
		t.Error("equal DNs normalize differently")
	}
}

// TestNoNetworkWithoutPassword: an empty password is refused before any connection (the
// host does not exist; a connection attempt would give an UpstreamError).
func TestNoNetworkWithoutPassword(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	defer l.Close()
	cfg := validConfig()
	cfg.Host, cfg.InsecureNoTLS = "ldap://"+l.Addr().String(), true
	conn, err := cfg.Open(context.Background(), connectors.Info{ID: "corp", Type: "ldap"}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pc := conn.(connectors.PasswordConnector)
	for _, u := range []string{"alice", "", strings.Repeat("a", 300), "\xff"} {
		if _, err := pc.Login(context.Background(), connectors.Scopes{}, u, ""); !errors.Is(err, connectors.ErrBadCredentials) {
			t.Errorf("Login(%q, empty) = %v, want ErrBadCredentials", u, err)
		}
	}
	if _, err := pc.Login(context.Background(), connectors.Scopes{}, "\xff", "pw"); !errors.Is(err, connectors.ErrBadCredentials) {
		t.Errorf("invalid UTF-8 username: %v", err)
	}
	select {
	case <-accepted:
		t.Error("a connection was made")
	case <-time.After(50 * time.Millisecond):
	}
	if pc.Prompt() != "Username" {
		t.Errorf("Prompt = %q", pc.Prompt())
	}
}

func TestOpenDoesNoIO(t *testing.T) {
	cfg := validConfig()
	cfg.Host = "ldaps://192.0.2.1:636" // TEST-NET: would hang if dialled
	start := time.Now()
	conn, err := cfg.Open(context.Background(), connectors.Info{ID: "corp"}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if time.Since(start) > time.Second {
		t.Error("Open took more than a second")
	}
	cfg.RootCA = "/nonexistent/ca.pem"
	if _, err := cfg.Open(context.Background(), connectors.Info{ID: "corp"}, connectors.Deps{}); err == nil || !strings.Contains(err.Error(), "root_ca") {
		t.Errorf("Open with a missing root_ca = %v", err)
	}
	bad := validConfig()
	bad.Host = "ldap://x"
	if _, err := bad.Open(context.Background(), connectors.Info{ID: "corp"}, connectors.Deps{}); err == nil {
		t.Error("Open accepted an invalid config")
	}
}

// TestDecodeIssueExample decodes the configuration shown in the issue with the strict
// decoder: every key name must be known.
func TestDecodeIssueExample(t *testing.T) {
	const doc = `
host: ldap.example.org:636
start_tls: false
insecure_no_tls: false
insecure_skip_verify: false
root_ca_data: ""
bind_dn: cn=broker,ou=services,dc=example,dc=org
bind_password: ${LDAP_BIND_PASSWORD}
username_prompt: Username
preset: ""
user_search:
  base_dn: ou=people,dc=example,dc=org
  filter: (objectClass=person)
  username: [uid, mail]
  id_attr: entryUUID
  email_attr: mail
  name_attr: cn
  preferred_username_attr: uid
group_search:
  base_dn: ou=groups,dc=example,dc=org
  filter: (objectClass=groupOfNames)
  user_matchers: [{ user_attr: DN, group_attr: member }]
  name_attr: cn
  nested: true
connect_timeout: 3s
timeout: 10s
`
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
		t.Fatal(err)
	}
	var c Config
	getenv := func(k string) string {
		if k == "LDAP_BIND_PASSWORD" {
			return "s3cret"
		}
		return ""
	}
	if err := config.DecodeStrict(node.Content[0], &c, "gatehouse.yaml", "connectors[0].config", getenv); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.BindPassword != "s3cret" || !slices.Equal(c.UserSearch.Username, []string{"uid", "mail"}) ||
		c.GroupSearch.UserMatchers[0] != (UserMatcher{"DN", "member"}) || !c.GroupSearch.Nested || c.ConnectTimeout != 3*time.Second {
		t.Errorf("decoded %+v", c)
	}
	var bad Config
	if err := yaml.Unmarshal([]byte("hostname: x\n"), &node); err != nil {
		t.Fatal(err)
	}
	if err := config.DecodeStrict(node.Content[0], &bad, "gatehouse.yaml", "connectors[0].config", getenv); err == nil {
		t.Error("unknown key accepted")
	}
}

// TestTrustEmail builds identities from directory entries (no server: group search is off).
// Attack (issue 25.2): with the common ACL "by self write", a user sets her own mail to a
// colleague's address; any non-empty mail counted as verified, so with link:
// link_verified_email she signed in as the colleague. LDAP email is unverified unless the
// connector says trust_email: true.
func TestTrustEmail(t *testing.T) {
	entry := goldap.NewEntry("uid=mallory,ou=people,dc=example,dc=org", map[string][]string{
		"entryUUID": {"5a0b7a6e-1c1b-4f4e-9d55-5a4b0c1d2e3f"}, "uid": {"mallory"}, "mail": {"alice@example.org"},
	})
	noMail := goldap.NewEntry("uid=nomail,ou=people,dc=example,dc=org", map[string][]string{
		"entryUUID": {"6a0b7a6e-1c1b-4f4e-9d55-5a4b0c1d2e3f"}, "uid": {"nomail"},
	})
	for _, tt := range []struct {
		name  string
		trust bool
		entry *goldap.Entry
		want  bool
	}{
		{"default: a directory mail is not verified", false, entry, false},
		{"trust_email: true", true, entry, true},
		{"trust_email without a mail", true, noMail, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.GroupSearch = GroupSearch{}
			cfg.TrustEmail = tt.trust
			conn, err := cfg.Open(context.Background(), connectors.Info{ID: "corp"}, connectors.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			up, err := conn.(*Connector).identity(context.Background(), tt.entry)
			if err != nil {
				t.Fatal(err)
			}
			if up.EmailVerified != tt.want {
				t.Errorf("email %q verified = %v, want %v", up.Email, up.EmailVerified, tt.want)
			}
			if ok, key := cfg.VerifiesEmail(); ok != tt.trust || key != "trust_email" {
				t.Errorf("VerifiesEmail() = %v, %q", ok, key)
			}
		})
	}
}

func TestCanonicalUsername(t *testing.T) {
	tests := []struct {
		ad          bool
		typed, want string
	}{
		{false, " Alice ", "alice"},
		{false, `CORP\alice`, `corp\alice`},
		{true, `CORP\Alice`, "alice"},
		{true, ` corp\alice `, "alice"},
		{true, `CORP\`, `corp\`},
	}
	for _, tt := range tests {
		c := &Connector{ad: tt.ad}
		if got := c.CanonicalUsername(tt.typed); got != tt.want {
			t.Errorf("ad=%v CanonicalUsername(%q) = %q, want %q", tt.ad, tt.typed, got, tt.want)
		}
	}
}
