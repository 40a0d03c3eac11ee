package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestNewServer(t *testing.T) {
	h := http.NotFoundHandler()
	s := NewServer("127.0.0.1:0", h)
	tests := []struct {
		name      string
		got, want time.Duration
	}{
		{"ReadHeaderTimeout", s.ReadHeaderTimeout, 10 * time.Second},
		{"ReadTimeout", s.ReadTimeout, 30 * time.Second},
		{"WriteTimeout", s.WriteTimeout, 60 * time.Second},
		{"IdleTimeout", s.IdleTimeout, 120 * time.Second},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if s.MaxHeaderBytes != 64*1024 {
		t.Errorf("MaxHeaderBytes = %d, want %d", s.MaxHeaderBytes, 64*1024)
	}
	if s.Addr != "127.0.0.1:0" {
		t.Errorf("Addr = %q", s.Addr)
	}
	if s.Handler == nil {
		t.Error("Handler not set")
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
	}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"direct, no header", "203.0.113.5:1234", nil, trusted, "203.0.113.5"},
		{"untrusted peer, spoofed header ignored", "203.0.113.5:1234", []string{"1.2.3.4"}, trusted, "203.0.113.5"},
		{"no trusted list ignores header", "10.0.0.1:80", []string{"1.2.3.4"}, nil, "10.0.0.1"},
		{"trusted peer, one hop", "10.0.0.1:80", []string{"198.51.100.7"}, trusted, "198.51.100.7"},
		{"trusted peer, spoofed left entry ignored", "10.0.0.1:80", []string{"1.2.3.4, 198.51.100.7"}, trusted, "198.51.100.7"},
		{"chain of trusted proxies", "10.0.0.1:80", []string{"198.51.100.7, 10.1.1.1, 10.2.2.2"}, trusted, "198.51.100.7"},
		{"multiple header lines", "10.0.0.1:80", []string{"1.2.3.4", "198.51.100.7, 10.9.9.9"}, trusted, "198.51.100.7"},
		{"all trusted returns leftmost", "10.0.0.1:80", []string{"10.3.3.3, 10.4.4.4"}, trusted, "10.3.3.3"},
		{"trusted peer, empty header", "10.0.0.1:80", nil, trusted, "10.0.0.1"},
		{"garbage entry stops walk", "10.0.0.1:80", []string{"198.51.100.7, garbage"}, trusted, "10.0.0.1"},
		{"entry with port", "10.0.0.1:80", []string{"198.51.100.7:5555"}, trusted, "198.51.100.7"},
		{"ipv6 peer trusted", "[::1]:80", []string{"2001:db8::1"}, trusted, "2001:db8::1"},
		{"ipv6 bracketed entry", "[::1]:80", []string{"[2001:db8::2]:443"}, trusted, "2001:db8::2"},
		{"ipv6 peer untrusted", "[2001:db8::9]:80", []string{"1.2.3.4"}, trusted, "2001:db8::9"},
		{"ipv4-mapped peer", "[::ffff:10.0.0.1]:80", []string{"198.51.100.7"}, trusted, "198.51.100.7"},
		{"unparseable remote returned as is", "not-an-addr", nil, trusted, "not-an-addr"},
		{"remote without port", "203.0.113.5", nil, trusted, "203.0.113.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientIP(r, tt.trusted); got != tt.want {
				t.Errorf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}
