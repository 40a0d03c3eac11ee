//go:build peers

package ldap

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf16"

	goldap "github.com/go-ldap/ldap/v3"
)

// The Samba AD fixtures.
const (
	adRealm    = "CORP.EXAMPLE.TEST"
	adDomain   = "CORP"
	adBase     = "DC=corp,DC=example,DC=test"
	adAdminPW  = "Admin-Pass-2024!"
	adAdminUPN = "Administrator@corp.example.test"
	adPeople   = "OU=People,OU=Gatehouse," + adBase
	adGroups   = "OU=Groups,OU=Gatehouse," + adBase
	adSvcPW    = "Svc-Pass-2024!x"
	adAlicePW  = "Alice-Pass-2024!"
	adDoraPW   = "Dora-Pass-2024!"
	adEllenPW  = "Ellen-Pass-2024!"
	adBigSize  = 300 // contacts in CN=ad-big, read by range retrieval in steps of 100
)

func adUserDN(cn string) string  { return "CN=" + cn + "," + adPeople }
func adGroupDN(cn string) string { return "CN=" + cn + "," + adGroups }

// sambaPeer is a running Samba AD DC on 127.0.0.1:389/636.
type sambaPeer struct {
	proc                   *process
	dir                    string
	caFile                 string
	provisionTook, runTook time.Duration
}

func (s *sambaPeer) stop() { s.proc.stop() }

// admin connects as the domain administrator over LDAPS, verifying the test CA.
func (s *sambaPeer) admin() (*goldap.Conn, error) {
	pem, err := os.ReadFile(s.caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := goldap.DialURL("ldaps://127.0.0.1:636", goldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(30 * time.Second)
	if err := conn.Bind(adAdminUPN, adAdminPW); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// setUAC sets userAccountControl (512 normal, 514 disabled) of a user.
func (s *sambaPeer) setUAC(dn string, uac int) error {
	conn, err := s.admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	m := goldap.NewModifyRequest(dn, nil)
	m.Replace("userAccountControl", []string{fmt.Sprint(uac)})
	return conn.Modify(m)
}

// unicodePwd encodes a password for AD's unicodePwd attribute.
func unicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

func startSamba(dir string, ca *testCA) (*sambaPeer, error) {
	if os.Getuid() != 0 {
		return nil, errors.New("the Samba AD DC must run as root (its LDAP ports 389/636 are fixed): run the tests as root, as CI does")
	}
	sambaBin, err := lookPeer("samba", "samba samba-ad-dc")
	if err != nil {
		return nil, err
	}
	tool, err := lookPeer("samba-tool", "samba samba-ad-provision python3-samba")
	if err != nil {
		return nil, err
	}
	for _, port := range []string{"389", "636", "88"} {
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			return nil, fmt.Errorf("port %s is busy (another directory running?): %w", port, err)
		}
		l.Close()
	}
	root := filepath.Join(dir, "samba")
	if err := os.MkdirAll(filepath.Join(root, "tls"), 0o700); err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{"ca.pem": ca.caPEM, "cert.pem": ca.certPEM, "key.pem": ca.keyPEM} {
		if err := os.WriteFile(filepath.Join(root, "tls", name), data, 0o600); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	if _, err := run(3*time.Minute, nil, tool, "domain", "provision", "--targetdir="+root,
		"--realm="+adRealm, "--domain="+adDomain, "--server-role=dc", "--dns-backend=NONE", "--use-rfc2307",
		"--host-ip=127.0.0.1", "--host-name=ghdc", "--adminpass="+adAdminPW,
		"--option=interfaces=lo", "--option=bind interfaces only=yes"); err != nil {
		return nil, fmt.Errorf("samba-tool domain provision: %w", err)
	}
	s := &sambaPeer{dir: root, caFile: ca.caFile, provisionTook: time.Since(t0)}
	conf := filepath.Join(root, "etc", "smb.conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		return nil, err
	}
	// Only the LDAP server and the KDC (kerberos_peers_test.go); logs in the temp dir; TLS with
	// the test CA's 127.0.0.1 certificate.
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "server services") || strings.HasPrefix(trimmed, "log file") {
			continue
		}
		out = append(out, line)
		if trimmed == "[global]" {
			out = append(out,
				"\tserver services = ldap, kdc",
				"\tlog file = "+root+"/log.%m",
				"\ttls enabled = yes",
				"\ttls keyfile = "+root+"/tls/key.pem",
				"\ttls certfile = "+root+"/tls/cert.pem",
				"\ttls cafile = "+root+"/tls/ca.pem")
		}
	}
	if err := os.WriteFile(conf, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		return nil, err
	}
	t0 = time.Now()
	proc, err := startProcess(sambaBin, "-i", "-M", "single", "-s", conf)
	if err != nil {
		return nil, err
	}
	s.proc = proc
	if err := waitPort(636, 60*time.Second, proc.exited); err != nil {
		proc.stop()
		return nil, fmt.Errorf("%w\n%s", err, proc.out.String())
	}
	var conn *goldap.Conn
	for i := 0; ; i++ {
		if conn, err = s.admin(); err == nil {
			break
		}
		if i == 100 {
			proc.stop()
			return nil, fmt.Errorf("administrator bind: %w\n%s", err, proc.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer conn.Close()
	s.runTook = time.Since(t0)
	t0 = time.Now()
	if err := sambaFixtures(conn); err != nil {
		proc.stop()
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	fmt.Fprintf(os.Stderr, "samba provisioned in %v, started in %v, fixtures in %v\n", s.provisionTook.Round(time.Millisecond),
		s.runTook.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	return s, nil
}

func sambaFixtures(conn *goldap.Conn) error {
	add := func(dn string, attrs map[string][]string) error {
		req := goldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			req.Attribute(k, v)
		}
		if err := conn.Add(req); err != nil {
			return fmt.Errorf("add %s: %w", dn, err)
		}
		return nil
	}
	ou := func(dn string) error {
		return add(dn, map[string][]string{"objectClass": {"organizationalUnit"}})
	}
	user := func(cn, sam, pw, display, mail string, uac int) error {
		return add(adUserDN(cn), map[string][]string{
			"objectClass": {"user"}, "sAMAccountName": {sam}, "userPrincipalName": {sam + "@corp.example.test"},
			"displayName": {display}, "mail": {mail}, "unicodePwd": {unicodePwd(pw)},
			"userAccountControl": {fmt.Sprint(uac)},
		})
	}
	group := func(cn string, members ...string) error {
		attrs := map[string][]string{"objectClass": {"group"}, "sAMAccountName": {cn}}
		if len(members) > 0 {
			attrs["member"] = members
		}
		return add(adGroupDN(cn), attrs)
	}
	steps := []func() error{
		func() error { return ou("OU=Gatehouse," + adBase) },
		func() error { return ou(adPeople) },
		func() error { return ou(adGroups) },
		func() error {
			return user("gh-svc", "gh-svc", adSvcPW, "Gatehouse service", "svc@corp.example.test", 512)
		},
		func() error {
			return user("Alice Anders", "alice", adAlicePW, "Alice Ändersson", "alice@corp.example.test", 512)
		},
		func() error {
			// Attributes only claims rules read (issue 20.1); ellen has none of them.
			m := goldap.NewModifyRequest(adUserDN("Alice Anders"), nil)
			m.Replace("employeeNumber", []string{"A-2001"})
			m.Replace("department", []string{"Research"})
			return conn.Modify(m)
		},
		func() error {
			return user("Dora Disabled", "dora", adDoraPW, "Dora Disabled", "dora@corp.example.test", 514)
		},
		func() error {
			return user("Ellen Refresh", "ellen", adEllenPW, "Ellen Refresh", "ellen@corp.example.test", 512)
		},
		// alice -> ad-devs -> ad-eng -> ad-all, ad-devs -> ad-all (diamond); ad-cyc-a <-> ad-cyc-b.
		func() error { return group("ad-devs", adUserDN("Alice Anders"), adUserDN("Ellen Refresh")) },
		func() error { return group("ad-eng", adGroupDN("ad-devs")) },
		func() error { return group("ad-all", adGroupDN("ad-eng"), adGroupDN("ad-devs")) },
		func() error { return group("ad-cyc-a", adUserDN("Alice Anders")) },
		func() error { return group("ad-cyc-b", adGroupDN("ad-cyc-a")) },
		func() error {
			m := goldap.NewModifyRequest(adGroupDN("ad-cyc-a"), nil)
			m.Add("member", []string{adGroupDN("ad-cyc-b")})
			return conn.Modify(m)
		},
		func() error { return group("ad-ellen", adUserDN("Ellen Refresh")) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	members := make([]string, 0, adBigSize)
	for i := range adBigSize {
		dn := fmt.Sprintf("CN=contact%04d,%s", i, adPeople)
		if err := add(dn, map[string][]string{"objectClass": {"contact"}}); err != nil {
			return err
		}
		members = append(members, dn)
	}
	return group("ad-big", members...)
}
