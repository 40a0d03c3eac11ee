//go:build peers

package ldap

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The OpenLDAP fixtures. Passwords are stored as {SSHA}.
const (
	slapdSuffix   = "dc=example,dc=org"
	slapdAdminDN  = "cn=admin,dc=example,dc=org"
	slapdAdminPW  = "admin-secret"
	slapdSvcDN    = "cn=gatehouse,ou=services,dc=example,dc=org"
	slapdSvcPW    = "service-secret-do-not-log"
	slapdPeople   = "ou=people,dc=example,dc=org"
	slapdGroups   = "ou=groups,dc=example,dc=org"
	bulkUsers     = 2000 // members of cn=big
	manyGroups    = 600  // groups of uid=pat, more than the size limit
	slapdSizeLimt = 500
)

// slapdPeer is a running private slapd.
type slapdPeer struct {
	proc               *process
	dir                string
	ldapURL, ldapsURL  string
	ldapAddr, tlsAddr  string
	caFile, caPEM      string
	ldapmodify         string
	loadTook, startTok time.Duration
}

func (s *slapdPeer) stop() { s.proc.stop() }

// modify applies an LDIF as the directory admin, online (so overlays see it).
func (s *slapdPeer) modify(ldif string) error {
	_, err := run(60*time.Second, []byte(ldif), s.ldapmodify, "-x", "-H", s.ldapURL, "-D", slapdAdminDN, "-w", slapdAdminPW)
	return err
}

// ssha hashes a password as OpenLDAP's {SSHA}.
func ssha(pw string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	h := sha1.Sum(append([]byte(pw), salt...))
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h[:], salt...))
}

func startSlapd(dir string, ca *testCA) (*slapdPeer, error) {
	slapd, err := lookPeer("slapd", "slapd")
	if err != nil {
		return nil, err
	}
	slapadd, err := lookPeer("slapadd", "slapd")
	if err != nil {
		return nil, err
	}
	ldapadd, err := lookPeer("ldapadd", "ldap-utils")
	if err != nil {
		return nil, err
	}
	ldapmodify, err := lookPeer("ldapmodify", "ldap-utils")
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "slapd")
	for _, d := range []string{root, root + "/slapd.d", root + "/data"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	files := map[string][]byte{"ca.pem": ca.caPEM, "server.pem": ca.certPEM, "server.key": ca.keyPEM}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	tlsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	config := fmt.Sprintf(`dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: %[1]s/slapd.pid
olcTLSCACertificateFile: %[1]s/ca.pem
olcTLSCertificateFile: %[1]s/server.pem
olcTLSCertificateKeyFile: %[1]s/server.key

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: refint
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/nis.ldif

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
olcDbMaxSize: 1073741824
olcDbNoSync: TRUE
olcSizeLimit: size.soft=%[5]d size.hard=%[5]d size.prtotal=unlimited
olcDbIndex: objectClass eq
olcDbIndex: uid,mail,cn eq
olcDbIndex: member eq
olcDbIndex: entryUUID eq
olcAccess: {0}to attrs=userPassword by self write by * auth
olcAccess: {1}to * by users read by * none

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE

dn: olcOverlay={1}refint,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {1}refint
olcRefintAttribute: member

dn: olcOverlay={2}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {2}ppolicy
olcPPolicyDefault: cn=default,ou=policies,%[2]s
`, root, slapdSuffix, slapdAdminDN, slapdAdminPW, slapdSizeLimt)
	if err := os.WriteFile(filepath.Join(root, "config.ldif"), []byte(config), 0o644); err != nil {
		return nil, err
	}
	if _, err := run(30*time.Second, nil, slapadd, "-n0", "-F", root+"/slapd.d", "-l", root+"/config.ldif"); err != nil {
		return nil, fmt.Errorf("slapadd -n0: %w", err)
	}
	args := []string{"-h", fmt.Sprintf("ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", port, tlsPort), "-F", root + "/slapd.d", "-d", "0"}
	if os.Getuid() == 0 {
		// slapd drops privileges to openldap, which must own its files.
		u, err := user.Lookup("openldap")
		if err != nil {
			return nil, fmt.Errorf("user openldap: %w (run scripts/install-peers.sh)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		err = filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			return nil, err
		}
		args = append(args, "-u", "openldap", "-g", "openldap")
	}
	t0 := time.Now()
	proc, err := startProcess(slapd, args...)
	if err != nil {
		return nil, err
	}
	s := &slapdPeer{
		proc: proc, dir: root,
		ldapURL:  fmt.Sprintf("ldap://127.0.0.1:%d", port),
		ldapsURL: fmt.Sprintf("ldaps://127.0.0.1:%d", tlsPort),
		ldapAddr: fmt.Sprintf("127.0.0.1:%d", port), tlsAddr: fmt.Sprintf("127.0.0.1:%d", tlsPort),
		caFile: ca.caFile, caPEM: string(ca.caPEM), ldapmodify: ldapmodify,
	}
	if err := waitPort(port, 15*time.Second, proc.exited); err != nil {
		proc.stop()
		return nil, fmt.Errorf("%w\n%s", err, proc.out.String())
	}
	if err := waitPort(tlsPort, 5*time.Second, proc.exited); err != nil {
		proc.stop()
		return nil, fmt.Errorf("%w\n%s", err, proc.out.String())
	}
	s.startTok = time.Since(t0)
	t0 = time.Now()
	if _, err := run(5*time.Minute, []byte(slapdFixtures()), ldapadd, "-x", "-c", "-H", s.ldapURL, "-D", slapdAdminDN, "-w", slapdAdminPW); err != nil {
		proc.stop()
		return nil, fmt.Errorf("loading fixtures: %w\n%s", err, proc.out.String())
	}
	s.loadTook = time.Since(t0)
	fmt.Fprintf(os.Stderr, "slapd started in %v, fixtures loaded in %v\n", s.startTok.Round(time.Millisecond), s.loadTook.Round(time.Millisecond))
	return s, nil
}

// person is one inetOrgPerson fixture.
func person(b *strings.Builder, uid, cn, sn, pw string, mails ...string) {
	fmt.Fprintf(b, "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn:: %s\nsn:: %s\nuserPassword: %s\n",
		uid, slapdPeople, uid, base64.StdEncoding.EncodeToString([]byte(cn)), base64.StdEncoding.EncodeToString([]byte(sn)), ssha(pw))
	for _, m := range mails {
		fmt.Fprintf(b, "mail: %s\n", m)
	}
	b.WriteString("\n")
}

// group is one groupOfNames fixture.
func group(b *strings.Builder, cn string, members ...string) {
	fmt.Fprintf(b, "dn: cn=%s,%s\nobjectClass: groupOfNames\ncn: %s\n", cn, slapdGroups, cn)
	for _, m := range members {
		fmt.Fprintf(b, "member: %s\n", m)
	}
	b.WriteString("\n")
}

func uidDN(uid string) string  { return "uid=" + uid + "," + slapdPeople }
func groupDN(cn string) string { return "cn=" + cn + "," + slapdGroups }

// Fixture passwords.
const (
	alicePW  = "alice-password"
	zoePW    = "zoë-pässword"
	bobPW    = "bob-password"
	lockedPW = "locked-password"
	patPW    = "pat-password"
	carolPW  = "carol-password"
	davePW   = "dave-password"
	erinPW   = "erin-password"
	frankPW  = "frank-password"
)

func slapdFixtures() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n", slapdSuffix)
	for _, ou := range []string{"people", "groups", "services", "policies"} {
		fmt.Fprintf(&b, "dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n", ou, slapdSuffix, ou)
	}
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: gatehouse\nuserPassword: %s\n\n", slapdSvcDN, ssha(slapdSvcPW))
	fmt.Fprintf(&b, "dn: cn=default,ou=policies,%s\nobjectClass: organizationalRole\nobjectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\npwdLockout: TRUE\npwdMaxFailure: 1000\n\n", slapdSuffix)
	person(&b, "alice", "Alice Liddell", "Liddell", alicePW, "alice@example.org")
	person(&b, "zoe", "Zoë Ångström-Ñúñez", "Ångström", zoePW, "zoe@example.org")
	person(&b, "bob", "Bob Two-Mails", "Mails", bobPW, "bob@example.org", "robert@example.org")
	person(&b, "locked", "Locked Out", "Out", lockedPW, "locked@example.org")
	person(&b, "pat", "Pat Many-Groups", "Groups", patPW, "pat@example.org")
	person(&b, "carol", "Carol Refresh", "Refresh", carolPW, "carol@example.org")
	person(&b, "dave", "Dave Cycle", "Cycle", davePW, "dave@example.org")
	person(&b, "erin", "Erin Broker", "Broker", erinPW, "erin@example.org")
	person(&b, "frank", "Frank Gone", "Gone", frankPW, "frank@example.org")
	// Attributes only claims rules read (issue 20.1); bob has none of them.
	fmt.Fprintf(&b, "dn: %s\nchangetype: modify\nadd: employeeNumber\nemployeeNumber: E-1001\n-\nadd: departmentNumber\ndepartmentNumber: 4711\n\n", uidDN("alice"))
	// Locked: ppolicy's "locked by the administrator" value.
	fmt.Fprintf(&b, "dn: %s\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n\n", uidDN("locked"))
	bulk := make([]string, 0, bulkUsers+1)
	for i := range bulkUsers {
		uid := fmt.Sprintf("bulk%04d", i)
		fmt.Fprintf(&b, "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: Bulk %d\nsn: Bulk\n\n", uid, slapdPeople, uid, i)
		bulk = append(bulk, uidDN(uid))
	}
	// Nesting: alice -> developers -> engineering -> staff, and developers -> staff (diamond);
	// cycle-a <-> cycle-b (cycle); alice and 2,000 others in big.
	group(&b, "developers", uidDN("alice"), uidDN("bob"))
	group(&b, "engineering", groupDN("developers"))
	group(&b, "staff", groupDN("engineering"), groupDN("developers"))
	group(&b, "cycle-a", uidDN("alice"), uidDN("dave"))
	group(&b, "cycle-b", groupDN("cycle-a"))
	fmt.Fprintf(&b, "dn: %s\nchangetype: modify\nadd: member\nmember: %s\n\n", groupDN("cycle-a"), groupDN("cycle-b"))
	group(&b, "big", append(bulk, uidDN("alice"))...)
	group(&b, "zoe-team", uidDN("zoe"))
	group(&b, "ops", uidDN("carol"))
	group(&b, "oncall", uidDN("carol"), uidDN("bulk0000"))
	group(&b, "erin-a", uidDN("erin"))
	group(&b, "erin-b", uidDN("erin"), uidDN("bulk0000"))
	for i := range manyGroups {
		group(&b, fmt.Sprintf("many-%04d", i), uidDN("pat"))
	}
	return b.String()
}
