package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// checkOut runs check-config on a configuration written to dir and returns its stdout,
// stderr and error.
func checkOut(t *testing.T, dir, yaml string, getenv func(string) string) (string, string, error) {
	t.Helper()
	path := writeFile(t, dir, "gh.yaml", yaml)
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"check-config", path}, getenv, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

const checkBase = "issuer: http://127.0.0.1:5556\nstorage: {type: sqlite, config: {file: gh.db}}\n"

const localConnector = "connectors:\n  - {type: local, id: local, name: Local}\n"

// TestCheckConfigOpensFiles: check-config opens what the configuration names, without side
// effects, and reports each problem at the key's line: TLS certificate and key (exist,
// parse, belong together), the SAML IdP key and certificate, the templates directory
// (exists, every template parses); client IDs are unique including the example app's.
func TestCheckConfigOpensFiles(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := selfSigned(t, "a")
	_, keyB := selfSigned(t, "b")
	certFile := writeFile(t, dir, "a.crt", string(certA))
	keyFile := writeFile(t, dir, "a.key", string(keyA))
	otherKey := writeFile(t, dir, "b.key", string(keyB))
	garbage := writeFile(t, dir, "garbage.pem", "not PEM\n")
	goodTheme := filepath.Join(dir, "theme-ok")
	badTheme := filepath.Join(dir, "theme-bad")
	for _, d := range []string{goodTheme, filepath.Join(badTheme, "templates")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(badTheme, "templates"), "login.html", "{{define \"login.html\"}}{{ .Broken {{end}}\n")
	https := func(cert, key string) string {
		return "web: {https: \"127.0.0.1:5557\", tls_cert: \"" + cert + "\", tls_key: \"" + key + "\"}\nissuer: https://127.0.0.1:5557\nstorage: {type: sqlite, config: {file: gh.db}}\n" + localConnector
	}
	tests := []struct {
		name string
		yaml string
		want string // in stderr; "" = valid
	}{
		{"tls pair", https(certFile, keyFile), ""},
		{"tls cert missing", https(filepath.Join(dir, "nope.crt"), keyFile), "gh.yaml:1: web.tls_cert: " + filepath.Join(dir, "nope.crt") + ": no such file or directory"},
		{"tls key of another cert", https(certFile, otherKey), "gh.yaml:1: web.tls_cert: the certificate " + certFile + " and the key " + otherKey + " do not load as a pair"},
		{"tls cert garbage", https(garbage, keyFile), "do not load as a pair"},
		{"saml idp key garbage", checkBase + localConnector + "saml_idp:\n  key: " + garbage + "\n  cert: " + certFile + "\n", "gh.yaml:6: saml_idp.key: the key " + garbage},
		{"saml idp cert missing", checkBase + localConnector + "saml_idp:\n  key: " + keyFile + "\n  cert: " + filepath.Join(dir, "none.crt") + "\n", "gh.yaml:7: saml_idp.cert:"},
		{"templates ok", checkBase + localConnector + "web: {http: \"127.0.0.1:5556\", templates_dir: \"" + goodTheme + "\"}\n", ""},
		{"templates missing", checkBase + localConnector + "web: {http: \"127.0.0.1:5556\", templates_dir: \"" + filepath.Join(dir, "nope") + "\"}\n", "web.templates_dir: " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"template does not parse", checkBase + localConnector + "web: {http: \"127.0.0.1:5556\", templates_dir: \"" + badTheme + "\"}\n", "web.templates_dir: "},
		{"templates dir is a file", checkBase + localConnector + "web: {http: \"127.0.0.1:5556\", templates_dir: \"" + garbage + "\"}\n", "is not a directory"},
		{"example app's client ID", checkBase + localConnector + "example: {enabled: true}\nclients:\n  - {id: example-app, secret: 0123456789abcdef0123, redirect_uris: [\"https://a.example.com/cb\"]}\n",
			`gh.yaml:7: clients[0].id: "example-app" is the example app's client ID`},
		{"example-app without the example", checkBase + localConnector + "clients:\n  - {id: example-app, secret: 0123456789abcdef0123, redirect_uris: [\"https://a.example.com/cb\"]}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, err := checkOut(t, t.TempDir(), tt.yaml, nil)
			if tt.want == "" {
				if err != nil || !strings.Contains(out, "configuration is valid") {
					t.Fatalf("want valid: %v\n%s", err, errs)
				}
				return
			}
			if err == nil || !strings.Contains(errs, tt.want) {
				t.Fatalf("err = %v; stderr lacks %q:\n%s", err, tt.want, errs)
			}
		})
	}
}

// TestCheckConfigConnectorProblemsOnePerLine: several problems in one connector block are
// listed one per line, each at its own key's line.
func TestCheckConfigConnectorProblemsOnePerLine(t *testing.T) {
	yaml := checkBase + `connectors:
  - type: ldap
    id: corp
    name: Corp
    config:
      host: ldap.example.com:636
      bind_dn: cn=svc,dc=example,dc=com
      pool_size: 5000
      user_search:
        base_dn: "not a dn"
        username: [uid]
`
	_, errs, err := checkOut(t, t.TempDir(), yaml, nil)
	if err == nil {
		t.Fatal("check-config accepted an invalid ldap block")
	}
	for _, want := range []string{
		"gh.yaml:7: connectors[0].config: bind_password: required with bind_dn", // a key not in the block: at the block
		"gh.yaml:10: connectors[0].config.pool_size: 5000 outside [1, 1024]",
		"gh.yaml:12: connectors[0].config.user_search.base_dn: not a valid DN",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks the line %q:\n%s", want, errs)
		}
	}
}

// TestCheckConfigWarnings: what loads but cannot work is a warning (exit 0), each at its line.
func TestCheckConfigWarnings(t *testing.T) {
	client := func(secret, uri string) string {
		return "clients:\n  - {id: app, secret: \"" + secret + "\", redirect_uris: [\"" + uri + "\"]}\n"
	}
	const longSecret = "0123456789abcdef0123"
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	user := "users:\n  - {username: ann, password_hash: \"" + string(hash) + "\"}\n"
	tests := []struct {
		name string
		yaml string
		want string // "" = no usage warning at all
	}{
		{"fine", checkBase + localConnector + client(longSecret, "https://app.example.com/cb"), ""},
		{"no connectors", checkBase, "gh.yaml: connectors: warning: no connectors"},
		{"users without local", checkBase + "connectors:\n  - {type: github, id: gh, name: GitHub, config: {client_id: x, client_secret: y}}\n" + user, "users: warning: 1 user(s) but no connector of type local"},
		{"issuer port", "issuer: http://127.0.0.1:8080\nweb: {http: \"127.0.0.1:5556\"}\nstorage: {type: sqlite, config: {file: gh.db}}\n" + localConnector,
			"gh.yaml:1: issuer: warning: the issuer http://127.0.0.1:8080 is on loopback port 8080 but web.http listens on port 5556"},
		{"issuer port off loopback is a proxy's business", "issuer: https://login.example.com\nweb: {http: \"127.0.0.1:5556\"}\nstorage: {type: sqlite, config: {file: gh.db}}\n" + localConnector, ""},
		{"wildcard redirect", checkBase + localConnector + client(longSecret, "https://*.example.com/cb"), "gh.yaml:6: clients[0].redirect_uris[0]: warning: \"https://*.example.com/cb\" has a *"},
		{"short secret", checkBase + localConnector + client("tooshort", "https://app.example.com/cb"), "clients[0].secret: warning: client \"app\": the secret is 8 bytes, shorter than 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, err := checkOut(t, t.TempDir(), tt.yaml, nil)
			if err != nil || !strings.Contains(out, "configuration is valid") {
				t.Fatalf("a warning must not fail the check: %v\n%s", err, errs)
			}
			if tt.want == "" {
				for _, w := range []string{"no connectors", "no connector of type local", "is on loopback port", "has a *", "shorter than"} {
					if strings.Contains(errs, w) {
						t.Errorf("unexpected warning %q:\n%s", w, errs)
					}
				}
				return
			}
			if !strings.Contains(errs, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, errs)
			}
		})
	}
}

// TestCheckConfigEveryVariableAtOnce: every missing ${VAR} is reported at once, connector
// blocks included, each at its line; a variable set but empty is told apart from an unset one.
func TestCheckConfigEveryVariableAtOnce(t *testing.T) {
	t.Setenv("GH_TEST_EMPTY", "")
	yaml := checkBase + `pairwise_salt: ${GH_TEST_SALT}
clients:
  - {id: app, secret: "${GH_TEST_APP_SECRET}", redirect_uris: ["https://app.example.com/cb"]}
connectors:
  - type: ldap
    id: corp
    name: Corp
    config:
      host: ldap.example.com:636
      bind_dn: cn=svc,dc=example,dc=com
      bind_password: ${GH_TEST_EMPTY}
      user_search: {base_dn: "${GH_TEST_BASE_DN}", username: [uid]}
`
	_, errs, err := checkOut(t, t.TempDir(), yaml, os.Getenv)
	if err == nil {
		t.Fatal("check-config accepted unset variables")
	}
	for _, want := range []string{
		"gh.yaml:3: pairwise_salt: environment variable GH_TEST_SALT is not set",
		"gh.yaml:5: clients[0].secret: environment variable GH_TEST_APP_SECRET is not set",
		"gh.yaml:13: connectors[0].config.bind_password: environment variable GH_TEST_EMPTY is set but empty",
		"gh.yaml:14: connectors[0].config.user_search.base_dn: environment variable GH_TEST_BASE_DN is not set",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks the line %q:\n%s", want, errs)
		}
	}
	if !strings.Contains(errs, "4 problem(s)") {
		t.Errorf("want exactly the 4 variable problems:\n%s", errs)
	}
}

// TestServeAndCheckConfigShareOnePath: serve refuses a configuration with the same problems,
// in the same file:line format, as check-config prints.
func TestServeAndCheckConfigShareOnePath(t *testing.T) {
	dir := t.TempDir()
	certA, _ := selfSigned(t, "a")
	certFile := writeFile(t, dir, "a.crt", string(certA))
	yaml := "issuer: https://127.0.0.1:5557\nweb: {https: \"127.0.0.1:0\", tls_cert: \"" + certFile + "\", tls_key: \"" + filepath.Join(dir, "none.key") + "\"}\n" +
		"storage: {type: sqlite, config: {file: \"" + filepath.Join(dir, "gh.db") + "\"}}\n" +
		"clients:\n  - {id: app, secret: \"${GH_TEST_UNSET_SECRET}\", redirect_uris: [\"https://app.example.com/cb\"]}\n" + localConnector
	path := writeFile(t, dir, "gh.yaml", yaml)
	var checkErr, serveErr bytes.Buffer
	if err := run(t.Context(), []string{"check-config", path}, nil, strings.NewReader(""), new(bytes.Buffer), &checkErr); err == nil {
		t.Fatal("check-config accepted it")
	}
	if err := run(t.Context(), []string{"serve", "--config", path}, nil, strings.NewReader(""), new(bytes.Buffer), &serveErr); err == nil {
		t.Fatal("serve accepted it")
	}
	problems := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "  "+path+":") {
				out = append(out, l)
			}
		}
		return out
	}
	cp, sp := problems(checkErr.String()), problems(serveErr.String())
	if len(cp) == 0 || strings.Join(cp, "\n") != strings.Join(sp, "\n") {
		t.Errorf("check-config and serve differ:\ncheck-config:\n%s\nserve:\n%s", checkErr.String(), serveErr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "gh.db")); err == nil {
		t.Error("serve created the database although the configuration is invalid")
	}
}
