//go:build peers

package ldap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// testLogger logs everything (debug included) into a buffer the test can search, and to
// the test output with -v.
func testLogger(t testing.TB) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	var w io.Writer = buf
	if testing.Verbose() {
		w = io.MultiWriter(buf, t.Output())
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// slapdConfig is the connector configuration for the test slapd over LDAPS.
func slapdConfig(s *slapdPeer) *Config {
	return &Config{
		Host:         s.ldapsURL,
		RootCA:       s.caFile,
		BindDN:       slapdSvcDN,
		BindPassword: slapdSvcPW,
		UserSearch: UserSearch{
			BaseDN: slapdPeople, Filter: "(objectClass=inetOrgPerson)", Username: []string{"uid", "mail"},
			IDAttr: "entryUUID", EmailAttr: "mail", NameAttr: "cn", PreferredUsernameAttr: "uid",
		},
		GroupSearch: GroupSearch{
			BaseDN: slapdGroups, Filter: "(objectClass=groupOfNames)",
			UserMatchers: []UserMatcher{{UserAttr: "DN", GroupAttr: "member"}}, NameAttr: "cn", Nested: true,
		},
		ConnectTimeout: 2 * time.Second,
		Timeout:        5 * time.Second,
	}
}

// open opens a connector and closes it at the end of the test.
func open(t testing.TB, cfg *Config) (*Connector, *syncBuffer) {
	t.Helper()
	logger, buf := testLogger(t)
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "corp", Type: "ldap", Name: "Corporate directory"},
		connectors.Deps{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*Connector), buf
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestSlapdLogin(t *testing.T) {
	s := needPeers(t).slapd
	c, _ := open(t, slapdConfig(s))
	aliceGroups := []string{"big", "cycle-a", "cycle-b", "developers", "engineering", "staff"}
	tests := []struct {
		name, user, pass string
		wantUser         string
		wantName         string
		wantEmail        string
		wantMails        []string
		wantGroups       []string
		wantErr          error
	}{
		{name: "uid", user: "alice", pass: alicePW, wantUser: "alice", wantName: "Alice Liddell", wantEmail: "alice@example.org", wantGroups: aliceGroups},
		{name: "mail", user: "alice@example.org", pass: alicePW, wantUser: "alice", wantName: "Alice Liddell", wantGroups: aliceGroups},
		{name: "non-ASCII name and password", user: "zoe", pass: zoePW, wantUser: "zoe", wantName: "Zoë Ångström-Ñúñez", wantGroups: []string{"zoe-team"}},
		{name: "second mail value", user: "robert@example.org", pass: bobPW, wantUser: "bob", wantEmail: "bob@example.org",
			wantMails: []string{"bob@example.org", "robert@example.org"}, wantGroups: []string{"developers", "engineering", "staff"}},
		{name: "cycle terminates", user: "dave", pass: davePW, wantUser: "dave", wantGroups: []string{"cycle-a", "cycle-b"}},
		{name: "wrong password", user: "alice", pass: "wrong", wantErr: connectors.ErrBadCredentials},
		{name: "unknown user", user: "nobody", pass: "whatever", wantErr: connectors.ErrBadCredentials},
		{name: "empty password", user: "alice", pass: "", wantErr: connectors.ErrBadCredentials},
		{name: "locked with right password", user: "locked", pass: lockedPW, wantErr: connectors.ErrBadCredentials},
		{name: "locked with wrong password", user: "locked", pass: "wrong", wantErr: connectors.ErrBadCredentials},
		{name: "filter injection", user: "*)(uid=*", pass: alicePW, wantErr: connectors.ErrBadCredentials},
		{name: "wildcard", user: "*", pass: alicePW, wantErr: connectors.ErrBadCredentials},
		{name: "injection with alice", user: "alice)(|(uid=*", pass: alicePW, wantErr: connectors.ErrBadCredentials},
		{name: "NUL", user: "alice\x00", pass: alicePW, wantErr: connectors.ErrBadCredentials},
		{name: "service account is not a user", user: "gatehouse", pass: slapdSvcPW, wantErr: connectors.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := c.Login(context.Background(), connectors.Scopes{Groups: true}, tt.user, tt.pass)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Login(%q) = %+v, %v; want %v", tt.user, up, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Login(%q): %v", tt.user, err)
			}
			if !uuidRe.MatchString(up.Subject) {
				t.Errorf("Subject = %q, want an entryUUID", up.Subject)
			}
			if up.Username != tt.wantUser {
				t.Errorf("Username = %q, want %q", up.Username, tt.wantUser)
			}
			if tt.wantName != "" && up.Name != tt.wantName {
				t.Errorf("Name = %q, want %q", up.Name, tt.wantName)
			}
			if tt.wantEmail != "" && up.Email != tt.wantEmail {
				t.Errorf("Email = %q, want %q", up.Email, tt.wantEmail)
			}
			if tt.wantMails != nil && !slices.Equal(up.Attrs["mail"], tt.wantMails) {
				t.Errorf("Attrs[mail] = %q, want %q", up.Attrs["mail"], tt.wantMails)
			}
			if !slices.Equal(up.Groups, tt.wantGroups) {
				t.Errorf("Groups = %q, want %q", up.Groups, tt.wantGroups)
			}
			if string(up.Stash) != uidDN(tt.wantUser) {
				t.Errorf("Stash = %q, want the DN", up.Stash)
			}
			if up.AuthTime.IsZero() || !slices.Equal(up.AMR, []string{"pwd"}) {
				t.Errorf("AuthTime/AMR = %v/%v", up.AuthTime, up.AMR)
			}
		})
	}
}

// TestSlapdPaging: pat is in more groups than the server's size limit; the group search
// needs paged results.
func TestSlapdPaging(t *testing.T) {
	s := needPeers(t).slapd
	// Without paging, the server refuses: the fixture really needs paging.
	conn, err := goldap.DialURL(s.ldapURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(slapdSvcDN, slapdSvcPW); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Search(goldap.NewSearchRequest(slapdGroups, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false,
		"(member="+goldap.EscapeFilter(uidDN("pat"))+")", []string{"cn"}, nil))
	if !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("unpaged search: err = %v, want sizeLimitExceeded (size limit %d)", err, slapdSizeLimt)
	}
	c, _ := open(t, slapdConfig(s))
	up, err := c.Login(context.Background(), connectors.Scopes{}, "pat", patPW)
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Groups) != manyGroups {
		t.Fatalf("pat has %d groups, want %d", len(up.Groups), manyGroups)
	}
	if up.Groups[0] != "many-0000" || up.Groups[manyGroups-1] != fmt.Sprintf("many-%04d", manyGroups-1) {
		t.Errorf("groups = %q ... %q", up.Groups[0], up.Groups[manyGroups-1])
	}
}

func TestSlapdGroupOptions(t *testing.T) {
	s := needPeers(t).slapd
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string
	}{
		{"direct only", func(c *Config) { c.GroupSearch.Nested = false }, []string{"big", "cycle-a", "developers"}},
		{"depth 1", func(c *Config) { c.GroupSearch.MaxDepth = 1 }, []string{"big", "cycle-a", "cycle-b", "developers", "engineering", "staff"}},
		{"no groups", func(c *Config) { c.GroupSearch = GroupSearch{} }, nil},
		{"memberUid-style matcher on uid", func(c *Config) {
			// (member=<uid value>) matches nothing; checks attribute matchers build valid filters.
			c.GroupSearch.UserMatchers = []UserMatcher{{UserAttr: "uid", GroupAttr: "cn"}}
			c.GroupSearch.Nested = false
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := slapdConfig(s)
			tt.modify(cfg)
			c, _ := open(t, cfg)
			up, err := c.Login(context.Background(), connectors.Scopes{}, "alice", alicePW)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(up.Groups, tt.want) {
				t.Errorf("Groups = %q, want %q", up.Groups, tt.want)
			}
		})
	}
}

func TestSlapdTLS(t *testing.T) {
	s := needPeers(t).slapd
	tests := []struct {
		name    string
		modify  func(*Config)
		wantErr bool
	}{
		{"LDAPS with root_ca", func(c *Config) {}, false},
		{"LDAPS host:port without scheme", func(c *Config) { c.Host = s.tlsAddr }, false},
		{"StartTLS with root_ca_data", func(c *Config) {
			c.Host, c.StartTLS, c.RootCA, c.RootCAData = s.ldapAddr, true, "", s.caPEM
		}, false},
		{"StartTLS ldap:// URL", func(c *Config) { c.Host, c.StartTLS = s.ldapURL, true }, false},
		{"LDAPS with system roots fails verification", func(c *Config) { c.RootCA = "" }, true},
		{"StartTLS with system roots fails verification", func(c *Config) { c.Host, c.StartTLS, c.RootCA = s.ldapAddr, true, "" }, true},
		{"insecure_skip_verify", func(c *Config) { c.RootCA, c.InsecureSkipVerify = "", true }, false},
		{"plain with insecure_no_tls", func(c *Config) { c.Host, c.RootCA, c.InsecureNoTLS = s.ldapURL, "", true }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := slapdConfig(s)
			tt.modify(cfg)
			c, _ := open(t, cfg)
			_, err := c.Login(context.Background(), connectors.Scopes{}, "alice", alicePW)
			if tt.wantErr {
				var ue *connectors.UpstreamError
				if !errors.As(err, &ue) {
					t.Fatalf("Login = %v, want *connectors.UpstreamError", err)
				}
				if !strings.Contains(err.Error(), "certificate") {
					t.Errorf("error %q does not mention the certificate", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Check(context.Background()); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestSlapdFailoverAndDown(t *testing.T) {
	s := needPeers(t).slapd
	cfg := slapdConfig(s)
	cfg.Host = ""
	cfg.Hosts = []string{"ldaps://" + deadAddr(t), s.ldapsURL}
	c, _ := open(t, cfg)
	if _, err := c.Login(context.Background(), connectors.Scopes{}, "alice", alicePW); err != nil {
		t.Fatalf("failover: %v", err)
	}

	cfg = slapdConfig(s)
	cfg.Host = "ldaps://" + deadAddr(t)
	c, _ = open(t, cfg)
	_, err := c.Login(context.Background(), connectors.Scopes{}, "alice", alicePW)
	var ue *connectors.UpstreamError
	if !errors.As(err, &ue) || !ue.Temporary {
		t.Fatalf("directory down: Login = %v, want a temporary *connectors.UpstreamError", err)
	}
	if err := c.Check(context.Background()); !errors.As(err, &ue) {
		t.Errorf("Check = %v, want *connectors.UpstreamError", err)
	}
	// Down is not bad credentials: the broker must not count it as a failed login.
	if errors.Is(err, connectors.ErrBadCredentials) {
		t.Error("a directory that is down looks like bad credentials")
	}
}

// proxy is a TCP proxy that can drop its connections and stop listening, to simulate a
// directory that goes away and comes back.
type proxy struct {
	t      testing.TB
	target string
	addr   string
	mu     sync.Mutex
	l      net.Listener
	conns  []net.Conn
}

func newProxy(t testing.TB, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.up()
	t.Cleanup(p.down)
	return p
}

func (p *proxy) up() {
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	for range 50 { // the port may linger briefly after down
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.l, p.addr = l, l.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestSlapdRecovers(t *testing.T) {
	s := needPeers(t).slapd
	p := newProxy(t, s.tlsAddr)
	cfg := slapdConfig(s)
	cfg.Host = "ldaps://" + p.addr
	c, _ := open(t, cfg)
	ctx := context.Background()
	if _, err := c.Login(ctx, connectors.Scopes{}, "alice", alicePW); err != nil {
		t.Fatal(err)
	}
	p.down()
	_, err := c.Login(ctx, connectors.Scopes{}, "alice", alicePW)
	var ue *connectors.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("while down: Login = %v, want *connectors.UpstreamError", err)
	}
	p.up()
	// Pooled connections broke while the directory was away; the next login must still work.
	if _, err := c.Login(ctx, connectors.Scopes{}, "alice", alicePW); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	// A connection dropped while idle is replaced transparently.
	p.down()
	p.up()
	if _, err := c.Login(ctx, connectors.Scopes{}, "alice", alicePW); err != nil {
		t.Fatalf("after idle drop: %v", err)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestSlapdTimeout(t *testing.T) {
	// A server that accepts and never answers: the operation timeout ends the login.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := slapdConfig(needPeers(t).slapd)
	cfg.Host, cfg.RootCA, cfg.InsecureNoTLS = "ldap://"+l.Addr().String(), "", true
	cfg.Timeout = 300 * time.Millisecond
	c, _ := open(t, cfg)
	start := time.Now()
	_, err = c.Login(context.Background(), connectors.Scopes{}, "alice", alicePW)
	var ue *connectors.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("Login = %v, want *connectors.UpstreamError", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v with a 300ms operation timeout", d)
	}
	// The caller's context ends a login too.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	cfg.Timeout = time.Minute
	c, _ = open(t, cfg)
	start = time.Now()
	if _, err := c.Login(ctx, connectors.Scopes{}, "alice", alicePW); err == nil {
		t.Fatal("login succeeded against a silent server")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v with a 100ms context", d)
	}
}

func TestSlapdSecretsNotLogged(t *testing.T) {
	s := needPeers(t).slapd
	cfg := slapdConfig(s)
	cfg.BindPassword = "wrong-service-secret-7f3a"
	c, logs := open(t, cfg)
	_, err := c.Login(context.Background(), connectors.Scopes{}, "alice", alicePW)
	var ue *connectors.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("Login with a wrong service password = %v, want *connectors.UpstreamError", err)
	}
	for _, secret := range []string{cfg.BindPassword, alicePW} {
		if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("secret %q appears in the error or the logs:\n%v\n%s", secret, err, logs)
		}
	}
	// The right service password is not logged either, through a full login and a failure.
	c, logs = open(t, slapdConfig(s))
	if _, err := c.Login(context.Background(), connectors.Scopes{}, "alice", alicePW); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Login(context.Background(), connectors.Scopes{}, "alice", "wrong-user-password-x")
	if strings.Contains(logs.String(), slapdSvcPW) || strings.Contains(logs.String(), alicePW) || strings.Contains(logs.String(), "wrong-user-password-x") {
		t.Errorf("a password appears in the logs:\n%s", logs)
	}
}

func TestSlapdRefresh(t *testing.T) {
	s := needPeers(t).slapd
	c, _ := open(t, slapdConfig(s))
	ctx := context.Background()
	up, err := c.Login(ctx, connectors.Scopes{}, "carol", carolPW)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"oncall", "ops"}; !slices.Equal(up.Groups, want) {
		t.Fatalf("Groups = %q, want %q", up.Groups, want)
	}
	if err := s.modify(fmt.Sprintf("dn: %s\nchangetype: modify\ndelete: member\nmember: %s\n", groupDN("oncall"), uidDN("carol"))); err != nil {
		t.Fatal(err)
	}
	up2, err := c.Refresh(ctx, connectors.Scopes{}, up)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ops"}; !slices.Equal(up2.Groups, want) {
		t.Errorf("after removal from oncall: Groups = %q, want %q", up2.Groups, want)
	}
	if up2.Subject != up.Subject || !up2.AuthTime.Equal(up.AuthTime) {
		t.Errorf("refresh changed Subject/AuthTime: %q %v -> %q %v", up.Subject, up.AuthTime, up2.Subject, up2.AuthTime)
	}
	// Locked by the administrator: refresh fails.
	if err := s.modify(fmt.Sprintf("dn: %s\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n", uidDN("carol"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, connectors.Scopes{}, up); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Errorf("locked: Refresh = %v, want ErrUpstreamRevoked", err)
	}
	// Deleted: refresh fails.
	up, err = c.Login(ctx, connectors.Scopes{}, "frank", frankPW)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.modify(fmt.Sprintf("dn: %s\nchangetype: delete\n", uidDN("frank"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, connectors.Scopes{}, up); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Errorf("deleted: Refresh = %v, want ErrUpstreamRevoked", err)
	}
	if _, err := c.Refresh(ctx, connectors.Scopes{}, connectors.Upstream{Subject: "x"}); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Errorf("no stash: Refresh = %v, want ErrUpstreamRevoked", err)
	}
	// Another entry at a stashed DN is another user.
	if _, err := c.Refresh(ctx, connectors.Scopes{}, connectors.Upstream{Subject: "not-alice", Stash: []byte(uidDN("alice"))}); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Errorf("replaced: Refresh = %v, want ErrUpstreamRevoked", err)
	}
}

func TestSlapdConcurrentLogins(t *testing.T) {
	s := needPeers(t).slapd
	cfg := slapdConfig(s)
	cfg.PoolSize = 2
	c, _ := open(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user, pw, want := "alice", alicePW, error(nil)
			if i%3 == 1 {
				user, pw = "bob", bobPW
			}
			if i%3 == 2 {
				pw, want = "wrong", connectors.ErrBadCredentials
			}
			_, err := c.Login(context.Background(), connectors.Scopes{}, user, pw)
			if !errors.Is(err, want) {
				errs <- fmt.Errorf("login %d (%s): %v, want %v", i, user, err, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkSlapdLogin measures password logins through the connector against slapd on
// loopback over LDAPS with pooled connections, and reports the LDAP round trips per login
// (one user search, one bind, one group search per nesting level).
func BenchmarkSlapdLogin(b *testing.B) {
	s := needPeers(b).slapd
	for _, bc := range []struct {
		name, user, pw string
		nested         bool
	}{
		{"direct-groups", "bob", bobPW, false},
		{"nested-groups", "alice", alicePW, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := slapdConfig(s)
			cfg.GroupSearch.Nested = bc.nested
			conn, err := cfg.Open(context.Background(), connectors.Info{ID: "corp", Type: "ldap"},
				connectors.Deps{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			c := conn.(*Connector)
			if _, err := c.Login(context.Background(), connectors.Scopes{}, bc.user, bc.pw); err != nil {
				b.Fatal(err)
			}
			ops0 := c.ops.Load()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Login(context.Background(), connectors.Scopes{}, bc.user, bc.pw); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
			b.ReportMetric(float64(c.ops.Load()-ops0)/float64(b.N), "roundtrips/login")
		})
	}
}
