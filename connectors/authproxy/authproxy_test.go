package authproxy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/authproxy"
)

const secret = "proxy-secret-0123456789"

func open(t *testing.T, cfg authproxy.Config, proxies ...string) connectors.RequestConnector {
	t.Helper()
	var pfx []netip.Prefix
	for _, p := range proxies {
		pfx = append(pfx, netip.MustParsePrefix(p))
	}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "proxy", Type: "authproxy", Name: "Corp proxy"},
		connectors.Deps{TrustedProxies: pfx})
	if err != nil {
		t.Fatal(err)
	}
	return c.(connectors.RequestConnector)
}

// TestAuthenticate proves which requests the connector believes: only from a peer in
// web.trusted_proxies carrying the secret exactly once, with exactly one non-empty user.
// Any other request is refused whole (ErrUntrustedRequest), and an accepted one yields the
// headers' identity: configurable names, groups split, trimmed and deduplicated over repeated
// headers, the static groups added, the email verified only with trust_email.
func TestAuthenticate(t *testing.T) {
	base := authproxy.Config{Secret: secret}
	custom := authproxy.Config{Secret: secret, SecretHeader: "X-Proxy-Key", UserHeader: "X-User", UserIDHeader: "X-User-Id",
		EmailHeader: "X-Mail", NameHeader: "X-Display", GroupsHeader: "X-Roles", GroupsSeparator: ";", Groups: []string{"via-proxy"}, TrustEmail: true}
	tests := []struct {
		name    string
		cfg     authproxy.Config
		proxies []string
		remote  string
		headers [][2]string
		want    connectors.Upstream // compared when wantErr is ""
		wantErr string
	}{
		{name: "trusted peer, right secret", cfg: base, proxies: []string{"127.0.0.1/32"}, remote: "127.0.0.1:40000",
			headers: [][2]string{{"X-Gatehouse-Proxy-Secret", secret}, {"X-Remote-User", "alice"}, {"X-Remote-Email", "alice@example.com"},
				{"X-Remote-Name", "Alice Example"}, {"X-Remote-Groups", "admins, staff,,admins"}, {"X-Remote-Groups", "ops"}},
			want: connectors.Upstream{Subject: "alice", Username: "alice", Email: "alice@example.com", Name: "Alice Example",
				Groups: []string{"admins", "staff", "ops"}}},
		{name: "custom header names", cfg: custom, proxies: []string{"10.0.0.0/8"}, remote: "10.1.2.3:5000",
			headers: [][2]string{{"X-Proxy-Key", secret}, {"X-User", "bob"}, {"X-User-Id", "u-42"}, {"X-Mail", "bob@example.com"},
				{"X-Display", "Bob"}, {"X-Roles", "dev; ops"}, {"X-Remote-User", "mallory"}},
			want: connectors.Upstream{Subject: "u-42", Username: "bob", Email: "bob@example.com", EmailVerified: true, Name: "Bob",
				Groups: []string{"dev", "ops", "via-proxy"}}},
		{name: "IPv4-mapped trusted peer", cfg: base, proxies: []string{"127.0.0.1/32"}, remote: "[::ffff:127.0.0.1]:1",
			headers: [][2]string{{"X-Gatehouse-Proxy-Secret", secret}, {"X-Remote-User", "alice"}},
			want:    connectors.Upstream{Subject: "alice", Username: "alice"}},
		{name: "untrusted peer", cfg: base, proxies: []string{"192.0.2.0/24"}, remote: "127.0.0.1:40000",
			headers: [][2]string{{"X-Gatehouse-Proxy-Secret", secret}, {"X-Remote-User", "alice"}}, wantErr: "not in web.trusted_proxies"},
		{name: "untrusted peer claiming X-Forwarded-For from a trusted one", cfg: base, proxies: []string{"192.0.2.0/24"}, remote: "127.0.0.1:1",
			headers: [][2]string{{"X-Forwarded-For", "192.0.2.7"}, {"X-Gatehouse-Proxy-Secret", secret}, {"X-Remote-User", "alice"}},
			wantErr: "not in web.trusted_proxies"},
		{name: "missing secret", cfg: base, proxies: []string{"127.0.0.1/32"}, remote: "127.0.0.1:1",
			headers: [][2]string{{"X-Remote-User", "alice"}}, wantErr: "X-Gatehouse-Proxy-Secret missing or wrong"},
		{name: "wrong secret", cfg: base, proxies: []string{"127.0.0.1/32"}, remote: "127.0.0.1:1",
			headers: [][2]string{{"X-Gatehouse-Proxy-Secret", secret + "x"}, {"X-Remote-User", "alice"}}, wantErr: "missing or wrong"},
		{name: "secret prefix", cfg: base, proxies: []string{"127.0.0.1/32"}, remote: "127.0.0.1:1",
			headers: [][2]string{{"X-Gatehouse-Proxy-Secret", secret[:10]}, {"X-Remote-User", "alice"}}, wantErr: "missing or wrong"},
		{name: "secret sent twice", cfg: base, proxies: []string{"127.0.0.1/32"}, remote: "127.0.0.1:1",
			headers: [][2]string{{"X-Gatehouse-Proxy-Secret", "wrong"}, {"X-Gatehouse-Proxy-Secret", secret}, {"X-Remote-User", "alice"}},
			wantErr: "missing or wrong"},
		{name: "missing user", cfg: base, proxies: []string{"127.0.0.1/32"}, remote: "127.0.0.1:1",
			headers: [][2]string{{"X-Gatehouse-Proxy-Secret", secret}, {"X-Remote-Email", "a@example.com"}}, wantErr: "X-Remote-User missing or empty"},
		{name: "blank user", cfg: base, proxies: []string{"127.0.0.1/32"}, remote: "127.0.0.1:1",
			headers: [][2]string{{"X-Gatehouse-Proxy-Secret", secret}, {"X-Remote-User", "  "}}, wantErr: "missing or empty"},
		{name: "user twice (client's and proxy's)", cfg: base, proxies: []string{"127.0.0.1/32"}, remote: "127.0.0.1:1",
			headers: [][2]string{{"X-Gatehouse-Proxy-Secret", secret}, {"X-Remote-User", "admin"}, {"X-Remote-User", "alice"}},
			wantErr: "X-Remote-User sent 2 times"},
		{name: "missing user id", cfg: custom, proxies: []string{"127.0.0.1/32"}, remote: "127.0.0.1:1",
			headers: [][2]string{{"X-Proxy-Key", secret}, {"X-User", "bob"}}, wantErr: "X-User-Id missing or empty"},
		{name: "over-long group", cfg: base, proxies: []string{"127.0.0.1/32"}, remote: "127.0.0.1:1",
			headers: [][2]string{{"X-Gatehouse-Proxy-Secret", secret}, {"X-Remote-User", "alice"}, {"X-Remote-Groups", strings.Repeat("g", 2000)}},
			wantErr: "longer than"},
		{name: "too many groups", cfg: base, proxies: []string{"127.0.0.1/32"}, remote: "127.0.0.1:1",
			headers: [][2]string{{"X-Gatehouse-Proxy-Secret", secret}, {"X-Remote-User", "alice"}, {"X-Remote-Groups", manyGroups(1001)}},
			wantErr: "more than 1000 groups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t, tt.cfg, tt.proxies...)
			r := httptest.NewRequest(http.MethodGet, "/login/proxy?req=x", nil)
			r.RemoteAddr = tt.remote
			for _, h := range tt.headers {
				r.Header.Add(h[0], h[1])
			}
			up, err := c.Authenticate(context.Background(), connectors.Scopes{}, r)
			if tt.wantErr != "" {
				if !errors.Is(err, connectors.ErrUntrustedRequest) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrUntrustedRequest with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error reveals the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if up.Subject != tt.want.Subject || up.Username != tt.want.Username || up.Email != tt.want.Email ||
				up.EmailVerified != tt.want.EmailVerified || up.Name != tt.want.Name || !slices.Equal(up.Groups, tt.want.Groups) {
				t.Fatalf("upstream = %+v, want %+v", up, tt.want)
			}
		})
	}
}

func manyGroups(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("g")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(string(rune('a' + (i/26)%26)))
		b.WriteString(string(rune('a' + (i/676)%26)))
	}
	return b.String()
}

// TestOpenRefusesWithoutTrustedProxies proves the connector cannot be opened with an empty
// web.trusted_proxies: it would otherwise have to believe nobody or everybody.
func TestOpenRefusesWithoutTrustedProxies(t *testing.T) {
	cfg := authproxy.Config{Secret: secret}
	if _, err := cfg.Open(context.Background(), connectors.Info{ID: "proxy"}, connectors.Deps{}); err == nil ||
		!strings.Contains(err.Error(), "web.trusted_proxies") {
		t.Fatalf("Open without trusted proxies: %v", err)
	}
}

// TestValidate proves the config-time checks: a secret is required and long enough, header
// names are HTTP tokens and distinct, the separator is not blank, static groups are not empty.
func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  authproxy.Config
		want string // "" means valid
	}{
		{"minimal", authproxy.Config{Secret: secret}, ""},
		{"no secret", authproxy.Config{}, "secret: required"},
		{"short secret", authproxy.Config{Secret: "short"}, "at least 16"},
		{"bad header", authproxy.Config{Secret: secret, GroupsHeader: "X Groups"}, "groups_header"},
		{"secret in the user header", authproxy.Config{Secret: secret, SecretHeader: "x-remote-user"}, "user_header: X-Remote-User is also secret_header"},
		{"blank separator", authproxy.Config{Secret: secret, GroupsSeparator: " "}, "groups_separator"},
		{"empty static group", authproxy.Config{Secret: secret, Groups: []string{""}}, "groups[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}
