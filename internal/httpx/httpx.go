// Package httpx holds small HTTP helpers shared by Gatehouse's servers: an http.Server with
// safe timeouts and limits, and client-IP extraction that trusts X-Forwarded-For only when
// the request came through a configured proxy.
//
// It is internal: not part of any API, and free to change.
package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Server limits applied by NewServer.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// NewServer returns an http.Server for addr and h with read, write and idle timeouts and a
// header size limit set, so that slow or oversized clients cannot hold connections forever.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// ClientIP returns the IP address of the client that sent r, without a port.
//
// The immediate peer (r.RemoteAddr) is the answer unless it lies in one of the trusted
// prefixes. In that case the X-Forwarded-For chain is walked from the right (the entry
// appended by the nearest proxy) and the first address that is not itself a trusted proxy
// is returned; entries that do not parse stop the walk and the last trusted hop is
// returned. X-Forwarded-For is never believed when the peer is not trusted, so a client
// cannot spoof its address by sending the header itself.
//
// If RemoteAddr cannot be parsed it is returned unchanged.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	// Collect every X-Forwarded-For entry in order; the header may appear more than once.
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for h := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseAddr(hops[i])
		if !ok {
			break
		}
		client = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client.String()
}

// parseAddr parses "ip", "ip:port" or "[ipv6]:port", dropping any IPv6 zone and unmapping
// IPv4-mapped IPv6 addresses.
func parseAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap(), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// FromTrustedProxy reports whether r's immediate peer (r.RemoteAddr) is one of the trusted
// proxies, whose forwarding headers (X-Forwarded-For, X-Request-Id) may be believed.
func FromTrustedProxy(r *http.Request, trusted []netip.Prefix) bool {
	peer, ok := parseAddr(r.RemoteAddr)
	return ok && isTrusted(peer, trusted)
}
