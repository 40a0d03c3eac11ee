package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// swapHandler is an http.Handler whose target is replaced once the broker is built: the
// listeners open first and answer "starting" (liveness ok, readiness 503) while storage is
// reached, so an orchestrator sees a live but not-ready process instead of a crash loop.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func newSwapHandler(h http.Handler) *swapHandler {
	s := &swapHandler{}
	s.set(h)
	return s
}

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// startingHandler answers while the process starts: /healthz 200, /readyz 503 with the
// current phase, every other path 503 with Retry-After.
func startingHandler(phase *atomic.Value) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if strings.HasSuffix(r.URL.Path, "/healthz") {
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		if strings.HasSuffix(r.URL.Path, "/readyz") {
			fmt.Fprintf(w, "starting: %s\n", phase.Load())
			return
		}
		fmt.Fprintf(w, "Gatehouse is starting (%s); try again in a few seconds.\n", phase.Load())
	})
}

// listeners are the process's HTTP listeners, opened before anything else so that a port in
// use fails at once and health answers during a slow start.
type listeners struct {
	logger  *slog.Logger
	phase   atomic.Value // string: what the process is waiting for
	public  *swapHandler
	admin   *swapHandler
	servers []*http.Server
	serve   []func() error
	// certs is the https listener's reloadable certificate (nil without web.https).
	certs *certReloader
	// adminCerts is the admin listener's (nil without admin.tls_cert).
	adminCerts *certReloader
	// requests counts the public listeners' requests (trimWhenIdle watches it).
	requests atomic.Int64
}

// openListeners listens on web.http, web.https and admin.http, each answering "starting"
// until setHandlers.
func openListeners(cfg *config.Config, logger *slog.Logger) (*listeners, error) {
	l := &listeners{logger: logger}
	l.phase.Store("opening storage")
	starting := startingHandler(&l.phase)
	l.public, l.admin = newSwapHandler(starting), newSwapHandler(starting)
	listen := func(addr string, h http.Handler, tlsFor func() (*tls.Config, error)) error {
		var tc *tls.Config // nil: plain HTTP
		if tlsFor != nil {
			var err error
			if tc, err = tlsFor(); err != nil {
				return err
			}
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		hs := httpx.NewServer(addr, h)
		if h == l.public {
			hs.Handler = countRequests(&l.requests, h)
			max := cfg.Web.MaxConnections
			if max == 0 {
				max = httpx.DefaultMaxConnections
			}
			ln = httpx.LimitConnections(ln, hs, max)
		}
		if h == l.admin {
			// gRPC clients of the admin API speak HTTP/2: over TLS, or without (h2c).
			hs.Protocols = new(http.Protocols)
			hs.Protocols.SetHTTP1(true)
			hs.Protocols.SetHTTP2(true)
			hs.Protocols.SetUnencryptedHTTP2(true)
		}
		hs.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
		hs.TLSConfig = tc
		l.servers = append(l.servers, hs)
		l.serve = append(l.serve, func() error {
			var err error
			if tc != nil {
				err = hs.ServeTLS(ln, "", "") // the certificate comes from tc.GetCertificate
			} else {
				err = hs.Serve(ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		})
		return nil
	}
	var err error
	if cfg.Web.HTTP != "" {
		err = listen(cfg.Web.HTTP, l.public, nil)
	}
	if err == nil && cfg.Web.HTTPS != "" {
		err = listen(cfg.Web.HTTPS, l.public, func() (*tls.Config, error) { return l.tlsConfig(cfg.Web, logger) })
	}
	if err == nil && cfg.Admin.HTTP != "" {
		var adminTLS func() (*tls.Config, error)
		if cfg.Admin.TLSCert != "" {
			adminTLS = func() (*tls.Config, error) { return l.adminTLSConfig(cfg.Admin, logger) }
		}
		err = listen(cfg.Admin.HTTP, l.admin, adminTLS)
	}
	if err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// tlsConfig is the https listener's TLS config: the certificate from a certReloader (kept
// in l.certs, reloaded on file change and SIGHUP) and, with web.client_ca, client
// certificate verification.
func (l *listeners) tlsConfig(web config.Web, logger *slog.Logger) (*tls.Config, error) {
	certs, err := newCertReloader(web.TLSCert, web.TLSKey, logger)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if web.ClientCA != "" {
		if tc, err = clientCATLS(web.ClientCA); err != nil {
			return nil, err
		}
	}
	tc.GetCertificate = certs.GetCertificate
	l.certs = certs
	return tc, nil
}

// adminTLSConfig is the admin listener's TLS config (admin.tls_cert, reloaded on file change
// through l.adminCerts) and, with admin.client_ca, client certificate verification: a
// certificate is asked for, verified when presented, and not required (health checks and
// bearer-token callers present none).
func (l *listeners) adminTLSConfig(a config.Admin, logger *slog.Logger) (*tls.Config, error) {
	certs, err := newCertReloader(a.TLSCert, a.TLSKey, logger)
	if err != nil {
		return nil, fmt.Errorf("admin.tls_cert: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.ClientCA != "" {
		if tc, err = clientCATLSFor("admin.client_ca", a.ClientCA); err != nil {
			return nil, err
		}
	}
	tc.GetCertificate = certs.GetCertificate
	l.adminCerts = certs
	return tc, nil
}

// start serves every listener in g.
func (l *listeners) start(g *errgroup.Group) {
	for _, f := range l.serve {
		g.Go(f)
	}
}

// setPhase says what the starting process is waiting for (shown by /readyz).
func (l *listeners) setPhase(p string) { l.phase.Store(p) }

// setHandlers switches the listeners from "starting" to the real handlers.
func (l *listeners) setHandlers(public, admin http.Handler) {
	l.public.set(public)
	l.admin.set(admin)
}

// shutdown drains the listeners: after delay (while /readyz already answers 503) they stop
// accepting, and in-flight requests get up to 10 seconds to finish.
func (l *listeners) shutdown(delay time.Duration) {
	if delay > 0 {
		l.logger.Info("draining: readiness is 503; still serving", "shutdown_delay", delay.String())
		time.Sleep(delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, hs := range l.servers {
		if err := hs.Shutdown(ctx); err != nil {
			l.logger.Warn("shutdown", "err", err)
		}
	}
}

// close closes listeners that never served (start failed before start).
func (l *listeners) close() {
	for _, hs := range l.servers {
		_ = hs.Close() //nolint:errcheck // closing listeners that never served; nothing to report
	}
}

// openStorageRetrying opens the configured store. An unreachable PostgreSQL is retried with
// backoff up to storage.config.connect_timeout (a pod that starts before its database is the
// normal case); readiness says so meanwhile. SQLite errors are local and final.
func openStorageRetrying(ctx context.Context, cfg config.Storage, sl storage.Sealer, logger *slog.Logger, l *listeners) (storage.Storage, error) {
	if cfg.Type != "postgres" {
		return assembly.OpenSealedStorage(ctx, cfg, sl, logger)
	}
	limit := cfg.Config.ConnectTimeout.D()
	if limit <= 0 {
		limit = 60 * time.Second
	}
	deadline := time.Now().Add(limit)
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		s, err := assembly.OpenSealedStorage(ctx, cfg, sl, logger)
		if err == nil {
			if attempt > 1 {
				logger.Info("storage reachable", "attempts", attempt)
			}
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if permanentStorageError(err) {
			return nil, fmt.Errorf("%w (not retried: waiting cannot fix this)", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w (gave up after %s and %d attempts; storage.config.connect_timeout sets how long to wait)", err, limit, attempt)
		}
		l.setPhase(fmt.Sprintf("waiting for storage (attempt %d failed)", attempt))
		logger.Warn("storage unreachable; retrying", "attempt", attempt, "retry_in", min(wait, left).String(), "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(wait, left)):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// permanentStorageError reports a storage error that waiting cannot fix, so serve fails at
// once instead of retrying until connect_timeout: wrong credentials or no such database or
// role (SQLSTATE classes 28 and 3D), a missing privilege or a migration the database refuses
// (class 42), a DSN that does not parse, a schema newer than this binary, sealed data without
// seal keys. A refused or dropped connection, a timeout or a database that is starting up
// (57P03) are retried.
func permanentStorageError(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && len(pg.Code) >= 2 {
		switch pg.Code[:2] {
		case "28", "3D", "42":
			return true
		}
	}
	var pc *pgconn.ParseConfigError
	return errors.As(err, &pc) || errors.Is(err, storage.ErrSchemaTooNew) || errors.Is(err, storage.ErrNoSealKeys)
}

// clientCATLS is the TLS config of an https listener with web.client_ca: a client
// certificate is asked for and, when one is presented, verified against the CAs of the file
// (a presented certificate that does not verify fails the handshake). Requests without one
// are served as before; the authproxy connector decides whether it needed one.
func clientCATLS(file string) (*tls.Config, error) { return clientCATLSFor("web.client_ca", file) }

// clientCATLSFor is clientCATLS for the configuration key key.
func clientCATLSFor(key, file string) (*tls.Config, error) {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", key, file)
	}
	return &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}, nil
}
