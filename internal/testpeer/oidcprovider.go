//go:build peers

package testpeer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// OIDCProviderOptions configure one oidc-provider process.
type OIDCProviderOptions struct {
	// Dir is the directory holding provider.mjs and its node_modules.
	Dir string
	// Port to listen on, on 127.0.0.1 (0: any free port).
	Port int
	// Issuer is the issuer URL the provider announces, when it is reached through something
	// in front of it (a proxy); empty means its own listen address.
	Issuer string
	// RedirectURIs are the redirect URIs of the static client "gatehouse".
	RedirectURIs []string
	// ClientSecret is that client's secret.
	ClientSecret string
	// PostLogoutRedirectURIs are that client's post_logout_redirect_uris (RP-Initiated
	// Logout).
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI is that client's backchannel_logout_uri ("": none); with it the
	// provider's ID tokens carry sid and its logouts POST logout tokens there.
	BackchannelLogoutURI string
	// Stderr receives the provider's stderr (nil: discarded).
	Stderr io.Writer
}

// OIDCProvider is a running oidc-provider.
type OIDCProvider struct {
	// Issuer is the issuer URL it announces.
	Issuer string
	// Addr is the host:port it listens on.
	Addr string
	cmd  *exec.Cmd
}

// StartOIDCProvider starts provider.mjs and waits (at most 30s) for its ready line.
func StartOIDCProvider(o OIDCProviderOptions) (*OIDCProvider, error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		return nil, fmt.Errorf("npm oidc-provider is not installed in %s: run `bash scripts/install-peers.sh` (%w)", dir, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is not installed (needed for oidc-provider; see scripts/install-peers.sh): %w", err)
	}
	cmd := exec.Command(node, "provider.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", o.Port), "REDIRECT_URIS="+strings.Join(o.RedirectURIs, ","),
		"CLIENT_SECRET="+o.ClientSecret, "ISSUER="+o.Issuer,
		"POST_LOGOUT_REDIRECT_URIS="+strings.Join(o.PostLogoutRedirectURIs, ","), "BACKCHANNEL_LOGOUT_URI="+o.BackchannelLogoutURI)
	cmd.Stderr = o.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start oidc-provider: %w", err)
	}
	p := &OIDCProvider{cmd: cmd}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			ready <- sc.Text()
		}
		close(ready)
		_, _ = io.Copy(io.Discard, out) //nolint:errcheck // drains until the process exits; nothing to report
	}()
	select {
	case line, ok := <-ready:
		var msg struct{ Issuer, Addr string }
		if !ok || json.Unmarshal([]byte(line), &msg) != nil || msg.Issuer == "" {
			p.Stop()
			return nil, fmt.Errorf("oidc-provider did not start (first line %q)", line)
		}
		p.Issuer, p.Addr = msg.Issuer, msg.Addr
	case <-time.After(30 * time.Second):
		p.Stop()
		return nil, errors.New("oidc-provider did not start within 30s")
	}
	return p, nil
}

// Stop ends the provider's process group: SIGTERM, then SIGKILL after 5s.
func (p *OIDCProvider) Stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM) //nolint:errcheck // already gone is fine; Wait below tells
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait() //nolint:errcheck // a provider stopped by a signal exits non-zero
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck // the last resort; Wait below returns
		<-done
	}
}
