package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/gatehouse-id/gatehouse/internal/tracing"
)

// Outbound limits: what Gatehouse accepts from the upstreams it fetches from (OIDC discovery,
// JWKS, userinfo, token endpoints, the GitHub, GitLab, Gitea, Bitbucket, Google Directory and
// Microsoft Graph APIs, SAML metadata).
const (
	// MaxResponseBytes caps one response body unless the request's context allows more
	// (WithResponseLimit). Discovery documents, key sets and API pages are a few KiB.
	MaxResponseBytes = 1 << 20
	// OutboundTimeout bounds one outbound request when the client sets no Timeout.
	OutboundTimeout = 30 * time.Second
	// MaxRedirects is how many redirects an outbound request follows.
	MaxRedirects = 5
)

// ErrResponseTooLarge reports a response body over the limit; the body is not read further.
var ErrResponseTooLarge = errors.New("httpx: upstream response larger than the limit")

type limitKey struct{}

// WithResponseLimit returns ctx allowing responses of up to n bytes to requests made with
// it (an explicit, bounded exception such as SAML federation metadata).
func WithResponseLimit(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, limitKey{}, n)
}

// LimitTransport is an http.RoundTripper that caps every response body: a declared
// Content-Length over the limit fails at once, and reading past the limit fails with
// ErrResponseTooLarge, so a caller's io.ReadAll never holds more than the limit.
type LimitTransport struct {
	// Base does the requests (nil: http.DefaultTransport).
	Base http.RoundTripper
	// Max is the default limit in bytes (0: MaxResponseBytes).
	Max int64
}

// RoundTrip does the request with Base and wraps the response body. Under a recording span
// the request is a span "upstream.http" (method, host and path; never the query) until the
// response headers arrive.
func (t *LimitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	_, sp := tracing.Start(req.Context(), "upstream.http", attribute.String("http.request.method", req.Method),
		attribute.String("server.address", req.URL.Host), attribute.String("url.path", req.URL.Path))
	defer sp.End()
	resp, err := base.RoundTrip(req)
	if err != nil {
		sp.SetStatus(codes.Error, "no response")
		return nil, err
	}
	sp.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	limit := t.limit(req.Context())
	if resp.ContentLength > limit {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s %s declares %d bytes (limit %d)", ErrResponseTooLarge, req.Method, req.URL.Redacted(), resp.ContentLength, limit)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: limit, limit: limit}
	return resp, nil
}

func (t *LimitTransport) limit(ctx context.Context) int64 {
	if n, ok := ctx.Value(limitKey{}).(int64); ok && n > 0 {
		return n
	}
	if t.Max > 0 {
		return t.Max
	}
	return MaxResponseBytes
}

// limitedBody fails once more than limit bytes have been read.
type limitedBody struct {
	rc          io.ReadCloser
	left, limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, fmt.Errorf("%w (%d bytes)", ErrResponseTooLarge, b.limit)
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more than allowed tells "exactly at the limit" from "over"
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n - int(-b.left), fmt.Errorf("%w (%d bytes)", ErrResponseTooLarge, b.limit)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// BoundedClient returns c (nil: a new client) with its response bodies capped by a
// LimitTransport, a Timeout (OutboundTimeout when c has none) and a redirect policy that
// follows at most MaxRedirects and never from https to http. A client that already has all
// three is returned as is.
func BoundedClient(c *http.Client) *http.Client {
	if c != nil && c.Timeout > 0 && c.CheckRedirect != nil {
		if _, ok := c.Transport.(*LimitTransport); ok {
			return c
		}
	}
	var out http.Client
	if c != nil {
		out = *c
	}
	if _, ok := out.Transport.(*LimitTransport); !ok {
		out.Transport = &LimitTransport{Base: out.Transport}
	}
	if out.Timeout <= 0 {
		out.Timeout = OutboundTimeout
	}
	if out.CheckRedirect == nil {
		out.CheckRedirect = checkRedirect
	}
	return &out
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= MaxRedirects {
		return fmt.Errorf("httpx: more than %d redirects", MaxRedirects)
	}
	if prev := via[len(via)-1]; prev.URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("httpx: refusing a redirect from https to %s", req.URL.Scheme)
	}
	return nil
}

// NewOutboundClient returns the client for upstream fetches: bounded as BoundedClient says,
// with dial, TLS handshake and response header timeouts so that a stalled upstream cannot
// hold a login for long.
func NewOutboundClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 20 * time.Second
	tr.MaxResponseHeaderBytes = 64 << 10
	return BoundedClient(&http.Client{Transport: tr}) // adds the LimitTransport, OutboundTimeout, redirect policy
}
