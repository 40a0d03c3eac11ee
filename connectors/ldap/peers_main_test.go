//go:build peers

package ldap

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Real-peer tests. TestMain starts a private OpenLDAP slapd (high ports) and provisions and
// starts a Samba AD DC (fixed ports 389/636, as root) once for the package, both on
// 127.0.0.1, with fixtures; it stops them at the end. A missing peer fails the run with a
// message naming scripts/install-peers.sh.

// peerEnv is what TestMain set up; tests read it.
type peerEnv struct {
	dir   string
	slapd *slapdPeer
	samba *sambaPeer
}

// peers is set once by TestMain before any test runs and never changed afterwards.
var peers *peerEnv

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gatehouse-ldap-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ca, err := newTestCA(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test CA:", err)
		return 1
	}
	env := &peerEnv{dir: dir}
	var wg sync.WaitGroup
	var slapdErr, sambaErr error
	start := time.Now()
	wg.Add(2)
	go func() {
		defer wg.Done()
		env.slapd, slapdErr = startSlapd(dir, ca)
	}()
	go func() {
		defer wg.Done()
		env.samba, sambaErr = startSamba(dir, ca)
	}()
	wg.Wait()
	defer func() {
		if env.slapd != nil {
			env.slapd.stop()
		}
		if env.samba != nil {
			env.samba.stop()
		}
	}()
	if slapdErr != nil || sambaErr != nil {
		if slapdErr != nil {
			fmt.Fprintln(os.Stderr, "slapd:", slapdErr)
		}
		if sambaErr != nil {
			fmt.Fprintln(os.Stderr, "samba:", sambaErr)
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "ldap peers ready in %v (slapd %s, samba AD 127.0.0.1:389/636)\n",
		time.Since(start).Round(time.Millisecond), env.slapd.ldapURL)
	peers = env
	return m.Run()
}

// needPeers returns the environment; without TestMain having set it up the test fails.
func needPeers(t testing.TB) *peerEnv {
	t.Helper()
	if peers == nil {
		t.Fatal("ldap peers not started (run scripts/install-peers.sh)")
	}
	return peers
}

// testCA is a CA generated for the run, and a server certificate for 127.0.0.1.
type testCA struct {
	caPEM, certPEM, keyPEM []byte
	caFile                 string
}

func newTestCA(dir string) (*testCA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Gatehouse LDAP test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	ca := &testCA{
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		caFile:  dir + "/ca.pem",
	}
	return ca, os.WriteFile(ca.caFile, ca.caPEM, 0o644)
}

// freePort returns a TCP port free on 127.0.0.1 right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitPort waits until 127.0.0.1:port accepts connections, the process exits, or d passes.
func waitPort(port int, d time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("process exited before listening on %d", port)
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listening on 127.0.0.1:%d after %v", port, d)
}

// run runs a command with a timeout and returns its combined output in the error.
func run(timeout time.Duration, stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		return out, fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return out, nil
}

// lookPeer finds a peer binary or explains how to install it.
func lookPeer(name, pkg string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin/", "/usr/bin/", "/sbin/"} {
			if _, serr := os.Stat(dir + name); serr == nil {
				return dir + name, nil
			}
		}
		return "", fmt.Errorf("%s not found (Debian %s): run scripts/install-peers.sh as root", name, pkg)
	}
	return p, nil
}

// process is a started peer process.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	out    *syncBuffer
}

func startProcess(name string, args ...string) (*process, error) {
	p := &process{cmd: exec.Command(name, args...), exited: make(chan struct{}), out: &syncBuffer{}}
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, keeping the last 64 KiB.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		rest := b.buf.Bytes()[b.buf.Len()-32<<10:]
		b.buf = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
