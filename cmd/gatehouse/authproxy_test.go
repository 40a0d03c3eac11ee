package main

import (
	"strings"
	"testing"
)

// TestCheckConfigAuthproxy proves that check-config knows the authproxy type, refuses it
// without web.trusted_proxies (no proxy could then be believed, so the connector would be a
// dead end, or worse a hint to "just trust everyone") naming the file and line, and reports
// a short secret and a bad header name with their keys.
func TestCheckConfigAuthproxy(t *testing.T) {
	const base = `issuer: http://127.0.0.1:5556
storage: {type: sqlite, config: {file: gh.db}}
web:
  trusted_proxies: [%s]
connectors:
  - type: authproxy
    id: proxy
    config:
      secret: %s
      user_header: %s
clients:
  - id: app
    secret: s3cret
    redirect_uris: ["https://app.example.com/cb"]
`
	for _, tt := range []struct {
		name, proxies, secret, header string
		want                          []string
	}{
		{"valid", "127.0.0.1/32", "0123456789abcdef", "X-Remote-User", nil},
		{"no trusted proxies", "", "0123456789abcdef", "X-Remote-User",
			[]string{"cfg.yaml:6: connectors[0].type", "set web.trusted_proxies"}},
		{"short secret", "10.0.0.1", "short", "X-Remote-User", []string{"connectors[0].config", "secret: must be at least 16"}},
		{"bad header name", "10.0.0.1", "0123456789abcdef", `"X Remote User"`, []string{"user_header"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := base
			for _, v := range []string{tt.proxies, tt.secret, tt.header} {
				body = strings.Replace(body, "%s", v, 1)
			}
			p := writeFile(t, t.TempDir(), "cfg.yaml", body)
			_, errs, err := runCmd("check-config", p)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("check-config: %v\n%s", err, errs)
				}
				return
			}
			if err == nil {
				t.Fatalf("check-config accepted:\n%s", body)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("check-config output lacks %q:\n%s", w, errs)
				}
			}
		})
	}
}
