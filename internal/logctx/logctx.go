// Package logctx gives every request an ID and carries it, with the attributes an operator
// needs (client_id, connector, username), in the request's context; its slog handler adds
// them to every log line written with that context (the *Context logging calls).
//
// It is internal: not part of any API, and free to change.
package logctx

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
)

// Header is the request and response header that carries the request ID.
const Header = "X-Request-Id"

// Key is the log attribute that holds the request ID.
const Key = "request_id"

// MaxIDLen bounds a request ID accepted from a trusted proxy.
const MaxIDLen = 128

// idEncoding spells generated IDs: lower-case base32 without padding (26 characters).
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a fresh random request ID (128 bits).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return idEncoding.EncodeToString(b[:])
}

// ValidID reports whether s is a sane request ID to accept from a proxy: 1 to MaxIDLen
// printable ASCII characters, no spaces, no quotes, no backslashes, no angle brackets.
func ValidID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// fields is what a request's context carries: its ID and the attributes added so far. It is
// shared by every context derived from the request's, so an attribute added deep in a flow
// reaches the log lines written after it.
type fields struct {
	id    string
	ip    string // the client's address (httpx.ClientIP), for audit events
	mu    sync.Mutex
	attrs []slog.Attr
}

type ctxKey struct{}

// WithRequestID returns a context carrying the request ID id (and no attributes yet).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, &fields{id: id})
}

// RequestID returns the request ID carried by ctx, or "".
func RequestID(ctx context.Context) string {
	if f, ok := ctx.Value(ctxKey{}).(*fields); ok {
		return f.id
	}
	return ""
}

// ClientIP returns the client address of the request of ctx as Middleware saw it (a trusted
// proxy's X-Forwarded-For, else the peer), or "".
func ClientIP(ctx context.Context) string {
	if f, ok := ctx.Value(ctxKey{}).(*fields); ok {
		return f.ip
	}
	return ""
}

// Add attaches attributes (slog's key-value pairs or slog.Attr) to the request of ctx; every
// later log line written with a context of that request carries them. An attribute replaces
// an earlier one with the same key. Without a request in ctx, Add does nothing. Never add
// secrets (passwords, codes, tokens, cookies).
func Add(ctx context.Context, args ...any) {
	f, ok := ctx.Value(ctxKey{}).(*fields)
	if !ok {
		return
	}
	var r slog.Record
	r.Add(args...)
	f.mu.Lock()
	defer f.mu.Unlock()
	r.Attrs(func(a slog.Attr) bool {
		f.attrs = slices.DeleteFunc(f.attrs, func(b slog.Attr) bool { return b.Key == a.Key })
		f.attrs = append(f.attrs, a)
		return true
	})
}

// snapshot returns the request ID and a copy of the attributes.
func (f *fields) snapshot() (string, []slog.Attr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.id, slices.Clone(f.attrs)
}

// Middleware gives every request an ID: the X-Request-Id a trusted proxy sent (the peer is
// in trusted and the value passes ValidID), else a fresh one. The ID is set as the
// response's X-Request-Id header and carried in the request's context with the client's
// address (ClientIP).
func Middleware(trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(Header)
		if !ValidID(id) || !httpx.FromTrustedProxy(r, trusted) {
			id = NewID()
		}
		w.Header().Set(Header, id)
		f := &fields{id: id, ip: httpx.ClientIP(r, trusted)}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, f)))
	})
}
