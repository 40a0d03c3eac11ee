//go:build peers

package ldap

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// sambaConfig is the connector configuration for the Samba AD DC with the AD preset, over
// LDAPS with the test CA. Searches start at the domain root, where AD returns referrals.
func sambaConfig(s *sambaPeer) *Config {
	return &Config{
		Host:           "ldaps://127.0.0.1:636",
		RootCA:         s.caFile,
		BindDN:         adUserDN("gh-svc"),
		BindPassword:   adSvcPW,
		Preset:         PresetActiveDirectory,
		UserSearch:     UserSearch{BaseDN: adBase},
		GroupSearch:    GroupSearch{BaseDN: adBase, Nested: true},
		ConnectTimeout: 5 * time.Second,
		Timeout:        10 * time.Second,
	}
}

// objectGUIDOf reads an entry's objectGUID as the administrator.
func objectGUIDOf(t *testing.T, s *sambaPeer, dn string) []byte {
	t.Helper()
	conn, err := s.admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"objectGUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("objectGUID of %s: %v", dn, err)
	}
	return res.Entries[0].GetRawAttributeValue("objectGUID")
}

func TestSambaLogin(t *testing.T) {
	s := needPeers(t).samba
	c, _ := open(t, sambaConfig(s))
	raw := objectGUIDOf(t, s, adUserDN("Alice Anders"))
	if len(raw) != 16 {
		t.Fatalf("objectGUID is %d bytes", len(raw))
	}
	wantSubject := guidString(raw)
	aliceGroups := []string{"ad-all", "ad-cyc-a", "ad-cyc-b", "ad-devs", "ad-eng"}
	tests := []struct {
		name, user, pass string
		wantErr          error
		wantDenied       string
	}{
		{name: "sAMAccountName", user: "alice", pass: adAlicePW},
		{name: "userPrincipalName", user: "alice@corp.example.test", pass: adAlicePW},
		{name: "UPN in capitals", user: "ALICE@CORP.EXAMPLE.TEST", pass: adAlicePW},
		{name: "down-level logon name", user: `CORP\alice`, pass: adAlicePW},
		{name: "wrong password", user: "alice", pass: "Wrong-Pass-1!", wantErr: connectors.ErrBadCredentials},
		{name: "unknown user", user: "mallory", pass: adAlicePW, wantErr: connectors.ErrBadCredentials},
		{name: "empty password", user: "alice", pass: "", wantErr: connectors.ErrBadCredentials},
		{name: "filter injection", user: "*)(sAMAccountName=*", pass: adAlicePW, wantErr: connectors.ErrBadCredentials},
		{name: "disabled, right password", user: "dora", pass: adDoraPW, wantDenied: "disabled"},
		{name: "disabled, wrong password", user: "dora", pass: "Wrong-Pass-1!", wantErr: connectors.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := c.Login(context.Background(), connectors.Scopes{}, tt.user, tt.pass)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Login = %+v, %v; want %v", up, err, tt.wantErr)
				}
				return
			case tt.wantDenied != "":
				var denied *connectors.DeniedError
				if !errors.As(err, &denied) || !strings.Contains(denied.Reason, tt.wantDenied) {
					t.Fatalf("Login = %v, want a denial mentioning %q", err, tt.wantDenied)
				}
				return
			case err != nil:
				t.Fatalf("Login: %v", err)
			}
			if up.Subject != wantSubject {
				t.Errorf("Subject = %q, want objectGUID %q", up.Subject, wantSubject)
			}
			if up.Username != "alice" || up.Name != "Alice Ändersson" || up.Email != "alice@corp.example.test" {
				t.Errorf("identity = %q %q %q", up.Username, up.Name, up.Email)
			}
			if !slices.Equal(up.Groups, aliceGroups) {
				t.Errorf("Groups = %q, want %q", up.Groups, aliceGroups)
			}
			if !strings.EqualFold(string(up.Stash), adUserDN("Alice Anders")) {
				t.Errorf("Stash = %q", up.Stash)
			}
		})
	}
}

// TestSambaInChain: on AD the nested groups come from one in-chain search: a login is a
// user search, a bind and one group search.
func TestSambaInChain(t *testing.T) {
	s := needPeers(t).samba
	c, _ := open(t, sambaConfig(s))
	before := c.ops.Load()
	up, err := c.Login(context.Background(), connectors.Scopes{}, "alice", adAlicePW)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.ops.Load() - before; n != 3 {
		t.Errorf("login took %d LDAP requests, want 3 (search, bind, in-chain group search)", n)
	}
	if !slices.Contains(up.Groups, "ad-all") {
		t.Errorf("Groups = %q, want the nested ad-all", up.Groups)
	}
	// Without nesting: direct groups only.
	cfg := sambaConfig(s)
	cfg.GroupSearch.Nested = false
	c, _ = open(t, cfg)
	up, err = c.Login(context.Background(), connectors.Scopes{}, "alice", adAlicePW)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ad-cyc-a", "ad-devs"}; !slices.Equal(up.Groups, want) {
		t.Errorf("direct Groups = %q, want %q", up.Groups, want)
	}
}

func TestSambaRefreshDisabled(t *testing.T) {
	s := needPeers(t).samba
	c, _ := open(t, sambaConfig(s))
	ctx := context.Background()
	up, err := c.Login(ctx, connectors.Scopes{}, "ellen", adEllenPW)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ad-all", "ad-devs", "ad-ellen", "ad-eng"}; !slices.Equal(up.Groups, want) {
		t.Fatalf("Groups = %q, want %q", up.Groups, want)
	}
	conn, err := s.admin()
	if err != nil {
		t.Fatal(err)
	}
	m := goldap.NewModifyRequest(adGroupDN("ad-devs"), nil)
	m.Delete("member", []string{adUserDN("Ellen Refresh")})
	err = conn.Modify(m)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The DC is shared by every test of the run (in shuffled order): put ellen back as the
	// fixture has her, enabled and in ad-devs, for the tests that sign her in later.
	t.Cleanup(func() {
		if err := s.setUAC(adUserDN("Ellen Refresh"), 512); err != nil {
			t.Errorf("re-enable ellen: %v", err)
		}
		conn, err := s.admin()
		if err != nil {
			t.Errorf("re-add ellen to ad-devs: %v", err)
			return
		}
		defer conn.Close()
		m := goldap.NewModifyRequest(adGroupDN("ad-devs"), nil)
		m.Add("member", []string{adUserDN("Ellen Refresh")})
		if err := conn.Modify(m); err != nil {
			t.Errorf("re-add ellen to ad-devs: %v", err)
		}
	})
	up2, err := c.Refresh(ctx, connectors.Scopes{}, up)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ad-ellen"}; !slices.Equal(up2.Groups, want) {
		t.Errorf("after removal: Groups = %q, want %q", up2.Groups, want)
	}
	if err := s.setUAC(adUserDN("Ellen Refresh"), 514); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, connectors.Scopes{}, up); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Errorf("disabled: Refresh = %v, want ErrUpstreamRevoked", err)
	}
	var denied *connectors.DeniedError
	if _, err := c.Login(ctx, connectors.Scopes{}, "ellen", adEllenPW); !errors.As(err, &denied) {
		t.Errorf("disabled: Login = %v, want *connectors.DeniedError", err)
	}
}

// TestSambaRangeRetrieval reads a 300-member group 100 values at a time with AD range
// retrieval (member;range=0-99, ...), as for groups beyond AD's 1,500-value MaxValRange.
func TestSambaRangeRetrieval(t *testing.T) {
	s := needPeers(t).samba
	c, _ := open(t, sambaConfig(s))
	var got []string
	err := c.search.with(context.Background(), func(conn *goldap.Conn) error {
		var err error
		got, err = c.readRange(conn, adGroupDN("ad-big"), "member", 0, 100, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != adBigSize {
		t.Fatalf("range retrieval read %d members, want %d", len(got), adBigSize)
	}
	slices.Sort(got)
	if len(slices.Compact(got)) != adBigSize {
		t.Error("duplicate members")
	}
	// An entry whose attribute came back as a first range is completed.
	err = c.search.with(context.Background(), func(conn *goldap.Conn) error {
		res, err := conn.Search(goldap.NewSearchRequest(adGroupDN("ad-big"), goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			1, 0, false, "(objectClass=*)", []string{"member;range=0-49"}, nil))
		if err != nil {
			return err
		}
		if n := len(res.Entries[0].Attributes); n != 1 || !strings.HasPrefix(res.Entries[0].Attributes[0].Name, "member;range=0-49") {
			t.Errorf("server sent %v, want member;range=0-49", res.Entries[0].Attributes)
		}
		got, err = c.rangedValues(conn, res.Entries[0], "member")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != adBigSize {
		t.Errorf("rangedValues read %d members, want %d", len(got), adBigSize)
	}
}

func TestSambaStartTLS(t *testing.T) {
	s := needPeers(t).samba
	cfg := sambaConfig(s)
	cfg.Host, cfg.StartTLS = "127.0.0.1:389", true
	c, _ := open(t, cfg)
	if _, err := c.Login(context.Background(), connectors.Scopes{}, "alice", adAlicePW); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}
