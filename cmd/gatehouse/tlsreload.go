package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse-id/gatehouse/web"
)

// certPollInterval is how often the https listener's certificate files are checked for a
// change (cert-manager and kubelet replace a mounted Secret's files in place).
const certPollInterval = 5 * time.Second

// certReloader holds the https listener's certificate and replaces it when its files change
// (watch) or on demand (reload, on SIGHUP). A new pair that does not load (half written, key
// and certificate not matching, expired PEM garbage) keeps the current one, and the reason
// is logged; the next change of either file tries again.
type certReloader struct {
	certFile, keyFile string
	logger            *slog.Logger

	cert atomic.Pointer[tls.Certificate]
	mu   sync.Mutex // serializes reloads; guards stamp
	// stamp is the files' modification times and sizes at the last load attempt.
	stamp string
}

// newCertReloader loads the pair once; a pair that does not load fails the start.
func newCertReloader(certFile, keyFile string, logger *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, logger: logger}
	c.stamp = c.fileStamp()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("web.tls_cert / web.tls_key: %w", err)
	}
	c.cert.Store(&cert)
	return c, nil
}

// GetCertificate is the tls.Config hook: the current certificate.
func (c *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// fileStamp describes both files' modification times and sizes ("" parts for a missing file).
func (c *certReloader) fileStamp() string {
	var b strings.Builder
	for _, f := range []string{c.certFile, c.keyFile} {
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.ModTime().UnixNano(), fi.Size())
		} else {
			b.WriteString("missing;")
		}
	}
	return b.String()
}

// reload loads the pair again and swaps it in when it loads; why says what asked (a file
// change, SIGHUP) for the log. It reports whether the certificate served changed.
func (c *certReloader) reload(ctx context.Context, why string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stamp = c.fileStamp()
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.logger.ErrorContext(ctx, "TLS certificate not reloaded; still serving the previous one",
			"reason", why, "cert", c.certFile, "key", c.keyFile, "err", err)
		return false, err
	}
	old := c.cert.Load()
	if fingerprint(old) == fingerprint(&cert) {
		c.logger.InfoContext(ctx, "TLS certificate unchanged", "reason", why, "cert", c.certFile)
		return false, nil
	}
	c.cert.Store(&cert)
	attrs := []any{"reason", why, "cert", c.certFile, "sha256", fingerprint(&cert)}
	if leaf := cert.Leaf; leaf != nil {
		attrs = append(attrs, "subject", leaf.Subject.String(), "dns_names", leaf.DNSNames,
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	c.logger.InfoContext(ctx, "TLS certificate reloaded", attrs...)
	return true, nil
}

// watch polls the files every interval until ctx ends and reloads when either changed.
func (c *certReloader) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		changed := c.fileStamp() != c.stamp
		c.mu.Unlock()
		if changed {
			c.reload(ctx, "file changed") //nolint:errcheck // reload logs the failure; the old pair stays
		}
	}
}

// fingerprint is the SHA-256 of the leaf certificate, hex ("" for none).
func fingerprint(c *tls.Certificate) string {
	if c == nil || len(c.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(c.Certificate[0])
	return hex.EncodeToString(sum[:])
}

// reloadables are what SIGHUP reloads: the TLS certificate (nil without web.https) and the
// templates and theme (web.templates_dir).
type reloadables struct {
	certs     *certReloader
	templates *web.Templates
	logger    *slog.Logger
}

// reload reloads each part, logging what changed and what failed (a failed part keeps its
// current state).
func (r reloadables) reload(ctx context.Context, why string) {
	if r.certs != nil {
		r.certs.reload(ctx, why) //nolint:errcheck // reload logs the failure; the old pair stays
	}
	if r.templates == nil {
		return
	}
	changed, err := r.templates.Reload()
	switch {
	case err != nil:
		r.logger.ErrorContext(ctx, "templates not reloaded; still serving the previous ones", "reason", why, "err", err)
	case len(changed) == 0:
		r.logger.InfoContext(ctx, "templates reloaded; no theme file changed", "reason", why)
	default:
		r.logger.InfoContext(ctx, "templates reloaded", "reason", why, "changed", changed)
	}
}

// onSIGHUP calls fn for every SIGHUP until ctx ends. The signal is subscribed before it
// returns, so a SIGHUP sent after the call never takes the default action (exit).
func onSIGHUP(ctx context.Context, fn func(context.Context)) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				fn(ctx)
			}
		}
	}()
}
