package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// dialer connects to the first reachable server, in order.
type dialer struct {
	servers        []server
	tls            *tls.Config
	connectTimeout time.Duration
	timeout        time.Duration
	logger         *slog.Logger
}

// dial returns a started connection to the first server that answers, with the operation
// timeout set. The error lists every server tried.
func (d *dialer) dial(ctx context.Context) (*goldap.Conn, error) {
	var errs []error
	for _, s := range d.servers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		conn, err := d.dialOne(ctx, s)
		if err == nil {
			return conn, nil
		}
		if len(d.servers) > 1 {
			d.logger.WarnContext(ctx, "ldap server unreachable, trying the next one", "server", s.url, "err", err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", s.url, err))
	}
	return nil, errors.Join(errs...)
}

func (d *dialer) dialOne(ctx context.Context, s server) (*goldap.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.connectTimeout)
	defer cancel()
	nd := &net.Dialer{Timeout: d.connectTimeout, KeepAlive: 30 * time.Second}
	addr := strings.TrimPrefix(strings.TrimPrefix(s.url, "ldaps://"), "ldap://")
	raw, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := d.tls.Clone()
	if tc.ServerName == "" {
		tc.ServerName = s.host
	}
	nc := raw
	if s.tls {
		tconn := tls.Client(raw, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		nc = tconn
	}
	conn := goldap.NewConn(nc, s.tls)
	conn.Start()
	conn.SetTimeout(d.timeout)
	if s.startTLS {
		// go-ldap's StartTLS handshake has no deadline of its own.
		deadline, _ := ctx.Deadline()
		_ = raw.SetDeadline(deadline) //nolint:errcheck // a deadline on a connection that is then closed or used; the next I/O reports
		stop := context.AfterFunc(ctx, func() { raw.Close() })
		err := conn.StartTLS(tc)
		stop()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
		_ = raw.SetDeadline(time.Time{}) //nolint:errcheck // a deadline on a connection that is then closed or used; the next I/O reports
	}
	return conn, nil
}

// pool keeps up to size idle connections prepared by setup (the service-account bind, or
// nothing) and caps open connections at 4*size.
type pool struct {
	d     *dialer
	setup func(*goldap.Conn) error
	idle  chan *goldap.Conn
	sem   chan struct{}

	mu     sync.Mutex
	closed bool
}

func newPool(d *dialer, setup func(*goldap.Conn) error, size int) *pool {
	return &pool{d: d, setup: setup, idle: make(chan *goldap.Conn, size), sem: make(chan struct{}, 4*size)}
}

// get returns an idle connection or a new one. fresh forces a new connection.
func (p *pool) get(ctx context.Context, fresh bool) (*goldap.Conn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !fresh {
		for {
			select {
			case c := <-p.idle:
				if c.IsClosing() {
					c.Close()
					continue
				}
				return c, nil
			default:
			}
			break
		}
	}
	c, err := p.d.dial(ctx)
	if err == nil && p.setup != nil {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err = p.setup(c)
		if !stop() && err == nil {
			err = ctx.Err()
		}
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		<-p.sem
		return nil, err
	}
	return c, nil
}

// put returns a connection to the pool, or closes it when broken or the pool is full.
func (p *pool) put(c *goldap.Conn, broken bool) {
	defer func() { <-p.sem }()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if broken || closed || c.IsClosing() {
		c.Close()
		return
	}
	select {
	case p.idle <- c:
	default:
		c.Close()
	}
}

// close closes idle connections; connections in use are closed when put back.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for {
		select {
		case c := <-p.idle:
			c.Close()
		default:
			return
		}
	}
}

// isConnError reports whether err means the connection is unusable (as opposed to an LDAP
// result from a working server).
func isConnError(err error) bool {
	if err == nil {
		return false
	}
	var le *goldap.Error
	if errors.As(err, &le) {
		return le.ResultCode == goldap.ErrorNetwork || le.ResultCode == goldap.LDAPResultTimeout ||
			le.ResultCode == goldap.LDAPResultServerDown || le.ResultCode == goldap.LDAPResultUnavailable ||
			le.ResultCode == goldap.LDAPResultBusy || le.ResultCode == goldap.LDAPResultConnectError
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	// go-ldap reports a dropped connection with unwrapped errors.
	msg := err.Error()
	return strings.HasPrefix(msg, "unable to read LDAP response packet") || strings.HasPrefix(msg, "unable to send request")
}

// with runs fn on a pooled connection. fn runs with the connection closed if ctx ends. A
// connection error on a reused connection is retried once on a fresh one (the server may
// have dropped an idle connection). A failure to connect is returned as a dialError.
func (p *pool) with(ctx context.Context, fn func(*goldap.Conn) error) error {
	for attempt := 0; attempt < 2; attempt++ {
		c, err := p.get(ctx, attempt > 0)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &dialError{err: err}
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		err = fn(c)
		stopped := stop()
		broken := !stopped || c.IsClosing() || isConnError(err)
		p.put(c, broken)
		if !stopped {
			return ctx.Err()
		}
		if broken && attempt == 0 {
			p.d.logger.DebugContext(ctx, "ldap connection broken, retrying on a new one", "err", err)
			continue
		}
		return err
	}
	panic("unreachable")
}

// dialError reports that no server could be reached or the service bind failed.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }
