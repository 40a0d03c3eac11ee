//go:build peers

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Bounds of every wait in this package.
const (
	healthTimeout   = 10 * time.Second // start to GET /readyz == 200
	shutdownTimeout = 5 * time.Second  // SIGTERM to exit
	peerTimeout     = 2 * time.Minute  // one run of a Node.js peer script
)

// suite is what TestMain prepares once for every test: the gatehouse binary and the peers.
type suite struct {
	root     string // repository root
	bin      string // the gatehouse binary built from ./cmd/gatehouse
	node     string // the node executable
	nodeDir  string // e2e/node, with node_modules installed
	chromium string // the Chromium executable
}

// peers is written once by TestMain before any test runs and only read afterwards.
var peers suite

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	s, cleanup, err := prepare()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer cleanup()
	peers = s
	return m.Run()
}

// prepare checks that every peer is installed and builds the gatehouse binary.
func prepare() (suite, func(), error) {
	var s suite
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return s, nil, fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return s, nil, errors.New("not inside the gatehouse module (go env GOMOD is empty)")
	}
	s.root = filepath.Dir(gomod)
	s.nodeDir = filepath.Join(s.root, "e2e", "node")

	const hint = "install the test peers first: bash scripts/install-peers.sh (as root)"
	var missing []string
	if s.node, err = exec.LookPath("node"); err != nil {
		missing = append(missing, "node (Node.js 20+) is not on PATH")
	}
	for _, pkg := range []string{"openid-client", "playwright-core"} {
		if _, err := os.Stat(filepath.Join(s.nodeDir, "node_modules", pkg, "package.json")); err != nil {
			missing = append(missing, fmt.Sprintf("npm package %s is not installed in e2e/node/node_modules", pkg))
		}
	}
	s.chromium = os.Getenv("E2E_CHROMIUM")
	if s.chromium == "" {
		s.chromium = "/usr/bin/chromium"
	}
	if fi, err := os.Stat(s.chromium); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		missing = append(missing, fmt.Sprintf("Chromium is not installed at %s", s.chromium))
	}
	if len(missing) > 0 {
		return s, nil, fmt.Errorf("missing test peers:\n  - %s\n%s", strings.Join(missing, "\n  - "), hint)
	}

	tmp, err := os.MkdirTemp("", "gatehouse-e2e-bin-")
	if err != nil {
		return s, nil, fmt.Errorf("temp dir: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	s.bin = filepath.Join(tmp, "gatehouse")
	// The same build as the Dockerfile's: a static binary without cgo.
	build := exec.Command("go", "build", "-trimpath", "-o", s.bin, "./cmd/gatehouse")
	build.Dir = s.root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		cleanup()
		return s, nil, fmt.Errorf("go build ./cmd/gatehouse: %w\n%s", err, out)
	}
	return s, cleanup, nil
}

// lockedBuffer collects a subprocess's output; safe for concurrent writes and reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// randomString returns n random bytes, hex-encoded.
func randomString(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("crypto/rand: %v", err)
	}
	return hex.EncodeToString(b)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// user is a user of the local connector with its clear-text password.
type user struct {
	Username, Password, Email, Name string
	Groups                          []string
}

// rp is a confidential client registered in the config; nothing listens at its URIs.
type rp struct {
	ID, Secret, RedirectURI, PostLogoutURI string
}

// instance describes one configured Gatehouse.
type instance struct {
	Issuer  string
	Dir     string
	Config  string // path of the config file
	User    user
	Client  rp
	Example bool
}

// newInstance writes a config file for a Gatehouse on a free loopback port with one confidential
// client, the local connector and one user (alice, random password).
func newInstance(t *testing.T, example bool) instance {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	rpPort := freePort(t)
	in := instance{
		Issuer: fmt.Sprintf("http://127.0.0.1:%d", port),
		Dir:    dir,
		Config: filepath.Join(dir, "gatehouse.yaml"),
		User: user{
			Username: "alice",
			Password: "pw-" + randomString(t, 12),
			Email:    "alice@example.com",
			Name:     "Alice Example",
			Groups:   []string{"admins", "e2e"},
		},
		Client: rp{
			ID:            "e2e-rp",
			Secret:        "secret-" + randomString(t, 16),
			RedirectURI:   fmt.Sprintf("http://127.0.0.1:%d/cb", rpPort),
			PostLogoutURI: fmt.Sprintf("http://127.0.0.1:%d/logged-out", rpPort),
		},
		Example: example,
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.User.Password), bcrypt.DefaultCost)
	if err != nil {
		t.Fatalf("bcrypt: %v", err)
	}
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	groups := make([]string, len(in.User.Groups))
	for i, g := range in.User.Groups {
		groups[i] = q(g)
	}
	cfg := strings.Join([]string{
		"issuer: " + q(in.Issuer),
		"web:",
		"  http: " + q(fmt.Sprintf("127.0.0.1:%d", port)),
		"storage:",
		"  type: sqlite",
		"  config:",
		"    file: " + q(filepath.Join(dir, "gh.db")),
		"logging:",
		"  level: debug",
		"clients:",
		"  - id: " + q(in.Client.ID),
		"    name: " + q("E2E Relying Party"),
		"    secret: " + q(in.Client.Secret),
		"    redirect_uris: [" + q(in.Client.RedirectURI) + "]",
		"    post_logout_redirect_uris: [" + q(in.Client.PostLogoutURI) + "]",
		"connectors:",
		"  - type: local",
		"    id: local",
		"    name: Local",
		"users:",
		"  - username: " + q(in.User.Username),
		"    email: " + q(in.User.Email),
		"    email_verified: true",
		"    name: " + q(in.User.Name),
		"    groups: [" + strings.Join(groups, ", ") + "]",
		"    password_hash: " + q(string(hash)),
		"example:",
		fmt.Sprintf("  enabled: %t", example),
		"",
	}, "\n")
	if err := os.WriteFile(in.Config, []byte(cfg), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	return in
}

// process is a running gatehouse subprocess.
type process struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result; read after done is closed
}

// Logs returns everything the process wrote so far.
func (p *process) Logs() string { return p.logs.String() }

// startProcess starts the gatehouse binary with args in dir, waits until baseURL/readyz answers
// 200 (the listeners open first and answer /healthz while storage and keys load), and at cleanup stops it with SIGTERM and requires a clean exit (status 0) within
// shutdownTimeout. The server's log is printed when the test failed.
func startProcess(t *testing.T, dir, baseURL string, args ...string) *process {
	t.Helper()
	p := &process{logs: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(peers.bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "HOME="+dir)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s %v: %v", peers.bin, args, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("gatehouse %s log:\n%s", strings.Join(args, " "), p.Logs())
		}
	})
	if err := waitHealthy(baseURL, p.done); err != nil {
		t.Fatalf("gatehouse %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("gatehouse %s healthy at %s after %v", strings.Join(args, " "), baseURL, time.Since(start).Round(time.Millisecond))
	return p
}

// waitHealthy polls baseURL/readyz until it answers 200, the process exits, or healthTimeout.
func waitHealthy(baseURL string, done <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(healthTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("exited before it was healthy")
		default:
		}
		resp, err := client.Get(baseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /readyz: %s", resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not healthy within %v: %v", healthTimeout, last)
}

// stop sends SIGTERM and requires exit status 0 within shutdownTimeout. Idempotent.
func (p *process) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	default:
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
		select {
		case <-p.done:
		case <-time.After(shutdownTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("gatehouse did not exit within %v of SIGTERM (graceful shutdown); killed it", shutdownTimeout)
			return
		}
	}
	if p.err != nil {
		t.Errorf("gatehouse did not exit cleanly after SIGTERM: %v (want exit status 0)", p.err)
	}
}

// serve starts `gatehouse serve --config` for an instance.
func serve(t *testing.T, in instance) *process {
	t.Helper()
	return startProcess(t, in.Dir, in.Issuer, "serve", "--config", in.Config)
}

// runNode runs one of the e2e/node scripts with extra environment and returns its output;
// a non-zero exit fails the test with that output.
func runNode(t *testing.T, script string, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, peers.node, script)
	cmd.Dir = peers.nodeDir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.WaitDelay = 5 * time.Second
	var out lockedBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("node %s (%v):\n%s", script, time.Since(start).Round(time.Millisecond), out.String())
	if ctx.Err() != nil {
		t.Fatalf("node %s did not finish within %v", script, peerTimeout)
	}
	if err != nil {
		t.Fatalf("node %s failed: %v (its output is above)", script, err)
	}
	return out.String()
}
