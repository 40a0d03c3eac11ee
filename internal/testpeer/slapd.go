//go:build peers

package testpeer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // OpenLDAP's {SSHA} password scheme is SHA-1; test fixtures only
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The directory StartSlapd serves: its suffix, the service account a connector searches
// with, and where the people are.
const (
	SlapdSuffix    = "dc=example,dc=org"
	SlapdServiceDN = "cn=gatehouse,ou=services,dc=example,dc=org"
	SlapdPeopleDN  = "ou=people,dc=example,dc=org"
	slapdAdminDN   = "cn=admin,dc=example,dc=org"
	slapdAdminPW   = "admin-secret"
)

// SlapdUser is a person StartSlapd puts in the directory (inetOrgPerson under
// SlapdPeopleDN).
type SlapdUser struct {
	UID, Name, Mail, Password string
}

// Slapd is a running private OpenLDAP slapd on 127.0.0.1, plain LDAP only.
type Slapd struct {
	// URL is ldap://127.0.0.1:port.
	URL string
	// ServicePassword is the password of SlapdServiceDN.
	ServicePassword string
	cmd             *exec.Cmd
	exited          chan struct{}
}

// StartSlapd builds a slapd (Debian slapd, ldap-utils) in dir with an mdb database, the
// service account and users, and starts it (dropping to openldap when run as root). A
// missing binary is an error naming scripts/install-peers.sh.
func StartSlapd(dir string, users []SlapdUser) (*Slapd, error) {
	bins := map[string]string{}
	for _, name := range []string{"slapd", "slapadd", "ldapadd"} {
		p, err := lookBin(name)
		if err != nil {
			return nil, err
		}
		bins[name] = p
	}
	root := filepath.Join(dir, "slapd")
	for _, d := range []string{root + "/slapd.d", root + "/data"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	port, err := freeTCPPort()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, "config.ldif"), []byte(slapdConfig(root)), 0o644); err != nil {
		return nil, err
	}
	if err := runBin(30*time.Second, nil, bins["slapadd"], "-n0", "-F", root+"/slapd.d", "-l", root+"/config.ldif"); err != nil {
		return nil, err
	}
	args := []string{"-h", fmt.Sprintf("ldap://127.0.0.1:%d/", port), "-F", root + "/slapd.d", "-d", "0"}
	if os.Getuid() == 0 {
		if err := traversable(dir); err != nil {
			return nil, err
		}
		if err := chownTree(root, "openldap"); err != nil {
			return nil, err
		}
		args = append(args, "-u", "openldap", "-g", "openldap")
	}
	s := &Slapd{URL: fmt.Sprintf("ldap://127.0.0.1:%d", port), ServicePassword: "service-" + randomHex(8), exited: make(chan struct{})}
	var out bytes.Buffer
	s.cmd = exec.Command(bins["slapd"], args...)
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start slapd: %w", err)
	}
	go func() {
		_ = s.cmd.Wait() //nolint:errcheck // the exit is reported through exited
		close(s.exited)
	}()
	if err := waitListening(port, 15*time.Second, s.exited); err != nil {
		s.Stop()
		return nil, fmt.Errorf("slapd: %w\n%s", err, out.String())
	}
	if err := runBin(60*time.Second, []byte(slapdFixtures(s.ServicePassword, users)), bins["ldapadd"], "-x", "-H", s.URL, "-D", slapdAdminDN, "-w", slapdAdminPW); err != nil {
		s.Stop()
		return nil, fmt.Errorf("slapd fixtures: %w", err)
	}
	return s, nil
}

// Stop stops slapd.
func (s *Slapd) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may have exited already
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill() //nolint:errcheck // as above
		<-s.exited
	}
}

func slapdConfig(root string) string {
	return fmt.Sprintf(`dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: %[1]s/slapd.pid

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: %[2]s
olcRootDN: %[3]s
olcRootPW: %[4]s
olcDbDirectory: %[1]s/data
olcDbMaxSize: 104857600
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: uid,mail eq
olcAccess: {0}to attrs=userPassword by self write by * auth
olcAccess: {1}to * by users read by * none
`, root, SlapdSuffix, slapdAdminDN, slapdAdminPW)
}

func slapdFixtures(servicePW string, users []SlapdUser) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n", SlapdSuffix)
	fmt.Fprintf(&b, "dn: ou=services,%s\nobjectClass: organizationalUnit\nou: services\n\n", SlapdSuffix)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: people\n\n", SlapdPeopleDN)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: gatehouse\nuserPassword: %s\n\n", SlapdServiceDN, ssha(servicePW))
	for _, u := range users {
		fmt.Fprintf(&b, "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn:: %s\nsn:: %s\nmail: %s\nuserPassword: %s\n\n",
			u.UID, SlapdPeopleDN, u.UID, b64(u.Name), b64(u.Name), u.Mail, ssha(u.Password))
	}
	return b.String()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// ssha hashes a password as OpenLDAP's {SSHA}.
func ssha(pw string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)                     //nolint:errcheck // crypto/rand.Read never fails (Go 1.24+)
	h := sha1.Sum(append([]byte(pw), salt...)) //nolint:gosec // see the import
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h[:], salt...))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) //nolint:errcheck // as above
	return fmt.Sprintf("%x", b)
}

// chownTree gives the tree to the named user (slapd drops privileges to it).
func chownTree(root, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("user %s: %w (run scripts/install-peers.sh)", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid) //nolint:errcheck // a numeric ID on Linux
	gid, _ := strconv.Atoi(u.Gid) //nolint:errcheck // as above
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// traversable lets every user through dir and its parents under the temp directory (a test's
// temp dir is 0700; slapd runs as openldap).
func traversable(dir string) error {
	tmp := filepath.Clean(os.TempDir())
	for p := filepath.Clean(dir); strings.HasPrefix(p, tmp+string(filepath.Separator)); p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if err := os.Chmod(p, fi.Mode().Perm()|0o111); err != nil {
			return err
		}
	}
	return nil
}

// lookBin finds a peer binary (also in the sbin directories a non-login PATH may lack).
func lookBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin/", "/usr/bin/", "/sbin/"} {
		if _, err := os.Stat(dir + name); err == nil {
			return dir + name, nil
		}
	}
	return "", fmt.Errorf("%s not found (Debian slapd, ldap-utils): run scripts/install-peers.sh as root", name)
}

func runBin(timeout time.Duration, stdin []byte, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, out)
	}
	return nil
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// waitListening waits until 127.0.0.1:port accepts connections, the process exits, or d
// passes.
func waitListening(port int, d time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %d", port)
		default:
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
			return c.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listening on 127.0.0.1:%d after %v", port, d)
}
