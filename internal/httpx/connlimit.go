package httpx

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// DefaultMaxConnections bounds a listener's open connections when the configuration does
// not (web.max_connections). Each open HTTP/1.1 connection holds about 14 KB (its
// goroutine's stack and its read and write buffers; docs/performance.md), so the default
// bounds what connections can hold to about 56 MB.
const DefaultMaxConnections = 4096

// LimitConnections bounds the connections srv serves from ln to max at once and sheds idle
// ones early: above three quarters of max, keep-alives are turned off (which closes the
// idle connections, those that never sent a request after 5 s included, and answers the
// others with Connection: close) until the count falls under half of max. At max, Accept
// waits for a connection to close (the kernel's backlog holds the rest). It sets
// srv.ConnState and returns the listener to serve from.
func LimitConnections(ln net.Listener, srv *http.Server, max int) net.Listener {
	l := &limitListener{Listener: ln, sem: make(chan struct{}, max), srv: srv,
		high: int64(max * 3 / 4), low: int64(max / 2)}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		l.state(s)
		if prev != nil {
			prev(c, s)
		}
	}
	return l
}

// limitListener is LimitConnections' listener: a semaphore of open connections.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	srv       *http.Server
	open      atomic.Int64
	high, low int64
	mu        sync.Mutex
	shedding  bool
}

// Accept waits for a free slot, then accepts.
func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// state counts connections and turns keep-alives off above high and on again below low.
func (l *limitListener) state(s http.ConnState) {
	var n int64
	switch s {
	case http.StateNew:
		n = l.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		n = l.open.Add(-1)
	default:
		return
	}
	shed := n >= l.high
	if !shed && n > l.low {
		return // between the marks: keep the current mode
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if shed != l.shedding {
		l.shedding = shed
		l.srv.SetKeepAlivesEnabled(!shed) // false closes the idle connections
	}
}

// limitConn releases its slot once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
