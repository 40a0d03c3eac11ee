package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// Attack (issue 25.5): an upstream answers with a body of any size and the caller reads it
// whole. Every response through a bounded client is capped: a declared Content-Length over
// the limit fails at once, a streamed body fails when it passes the limit.
func TestBoundedClientCapsResponses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Has("declare") {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		chunk := strings.Repeat("x", 4096)
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := io.WriteString(w, chunk[:min(len(chunk), n-sent)]); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name    string
		query   string
		ctx     func(context.Context) context.Context
		wantErr bool
	}{
		{"small", "n=1000", nil, false},
		{"exactly the limit", "n=" + strconv.Itoa(MaxResponseBytes), nil, false},
		{"streamed past the limit", "n=" + strconv.Itoa(64<<20), nil, true},
		{"declared past the limit", "declare=1&n=" + strconv.Itoa(MaxResponseBytes+1), nil, true},
		{"one byte past the limit", "n=" + strconv.Itoa(MaxResponseBytes+1), nil, true},
		{"an explicit larger limit", "n=" + strconv.Itoa(2<<20), func(c context.Context) context.Context { return WithResponseLimit(c, 2<<20) }, false},
	} {
		for name, client := range map[string]*http.Client{"BoundedClient(nil)": BoundedClient(nil), "BoundedClient(plain)": BoundedClient(srv.Client()), "NewOutboundClient": NewOutboundClient()} {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				ctx := context.Background()
				if tc.ctx != nil {
					ctx = tc.ctx(ctx)
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?"+tc.query, nil)
				var n int
				resp, err := client.Do(req)
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					n = len(b)
					resp.Body.Close()
				}
				if tc.wantErr {
					if !errors.Is(err, ErrResponseTooLarge) {
						t.Fatalf("err = %v, want ErrResponseTooLarge", err)
					}
					if n > MaxResponseBytes {
						t.Fatalf("read %d bytes past the limit", n)
					}
				} else if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// Attack (issue 25.5): an upstream on https redirects a server-side fetch to plain http (or
// loops); the bounded client refuses.
func TestBoundedClientRedirects(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/loop" {
			http.Redirect(w, r, "/loop", http.StatusFound)
			return
		}
		http.Redirect(w, r, plain.URL, http.StatusFound)
	}))
	t.Cleanup(tlsSrv.Close)
	c := BoundedClient(tlsSrv.Client())
	for _, path := range []string{"/down", "/loop"} {
		resp, err := c.Get(tlsSrv.URL + path)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s: followed", path)
		}
	}
	if BoundedClient(c) != c {
		t.Error("BoundedClient wrapped an already bounded client again")
	}
}
