package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretFileVariants(t *testing.T) {
	dsn := writeSecret(t, "dsn", "postgres://gh:pw@db/gatehouse\n")
	secret := writeSecret(t, "secret", "s3cr$t-with-dollar\r\n")
	salt := writeSecret(t, "salt", "pairwise-salt-value")
	key := writeSecret(t, "key", "0123456789abcdef0123456789abcdef")
	pw := writeSecret(t, "pw", "dbpass\n\n")
	doc := `storage:
  type: postgres
  config:
    dsn_file: ` + dsn + `
    password_file: ${PW_FILE}
clients:
  - id: app
    secret_file: ` + secret + `
    redirect_uris: [https://app.example/cb]
pairwise_salt_file: ` + salt + `
mfa:
  secrets_key_file: ` + key + `
`
	cfg, err := Parse([]byte(doc), "gh.yaml", env(map[string]string{"PW_FILE": pw}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"dsn", cfg.Storage.Config.DSN, "postgres://gh:pw@db/gatehouse"},
		{"password (one newline trimmed, the rest kept)", cfg.Storage.Config.Password, "dbpass\n"},
		{"client secret (CRLF trimmed, $ literal)", cfg.Clients[0].Secret, "s3cr$t-with-dollar"},
		{"pairwise salt", cfg.PairwiseSalt, "pairwise-salt-value"},
		{"mfa secrets key", cfg.MFA.SecretsKey, "0123456789abcdef0123456789abcdef"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	// Problems about the value point at the _file key's line.
	if f, l := cfg.Position("clients[0].secret"); f != "gh.yaml" || l != 8 {
		t.Errorf("Position(clients[0].secret) = %s:%d, want gh.yaml:8", f, l)
	}
}

func TestSecretFileProblems(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	empty := writeSecret(t, "empty", "\n")
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"missing file names file:line and key", "clients:\n  - id: a\n    secret_file: " + missing + "\n",
			[]string{"gh.yaml:3: clients[0].secret_file: cannot read the file holding secret", "no such file"}},
		{"both set", "storage:\n  config:\n    dsn: x\n    dsn_file: " + empty + "\n",
			[]string{"gh.yaml:4: storage.config.dsn: dsn and dsn_file are both set (line 3 and 4): keep one"}},
		{"both set, file first", "pairwise_salt_file: " + missing + "\npairwise_salt: y\n",
			[]string{"gh.yaml:2: pairwise_salt: pairwise_salt and pairwise_salt_file are both set"}},
		{"empty file", "pairwise_salt_file: " + empty + "\n",
			[]string{"gh.yaml:1: pairwise_salt_file: the file " + empty + " is empty"}},
		{"empty path", "pairwise_salt_file: \"\"\n", []string{"gh.yaml:1: pairwise_salt_file: empty file path"}},
		{"not a secret", "issuer_file: /x\n", []string{`unknown key "issuer_file"`, "(the file variants here are: pairwise_salt_file)"}},
		{"unset variable in path", "pairwise_salt_file: ${NOPE}\n", []string{"environment variable NOPE is not set"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc), "gh.yaml", nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

// TestSecretFileInConnectorBlock: connector config blocks decode with DecodeStrict, which
// reads a tagged field's _file variant the same way.
func TestSecretFileInConnectorBlock(t *testing.T) {
	pw := writeSecret(t, "bind", "bind-pass\n")
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("bind_dn: cn=svc\nbind_password_file: "+pw+"\n"), &n); err != nil {
		t.Fatal(err)
	}
	var dst struct {
		BindDN       string `yaml:"bind_dn"`
		BindPassword string `yaml:"bind_password" secret:"file"`
	}
	if err := DecodeStrict(n.Content[0], &dst, "gh.yaml", "connectors[0].config", nil); err != nil {
		t.Fatal(err)
	}
	if dst.BindPassword != "bind-pass" {
		t.Errorf("bind_password = %q", dst.BindPassword)
	}
	err := DecodeStrict(n.Content[0], &struct {
		BindDN string `yaml:"bind_dn"`
	}{}, "gh.yaml", "connectors[0].config", nil)
	if err == nil || !strings.Contains(err.Error(), `gh.yaml:2: connectors[0].config.bind_password_file: unknown key`) {
		t.Errorf("untagged field: err = %v", err)
	}
}

// TestSecretKeysHaveFileVariants lists the secret keys of the configuration file: each must
// accept its _file variant (a new secret key needs the tag `secret:"file"`).
func TestSecretKeysHaveFileVariants(t *testing.T) {
	d := newDecoder("", nil, nil)
	for _, c := range []struct {
		typ  any
		keys []string
	}{
		{Config{}, []string{"pairwise_salt"}},
		{StorageConfig{}, []string{"dsn", "password"}},
		{Client{}, []string{"secret"}},
		{MFA{}, []string{"secrets_key"}},
	} {
		si := d.structInfo(reflectTypeOf(c.typ))
		for _, k := range c.keys {
			if !si.secrets[k] {
				t.Errorf("%T: %s has no %s%s variant", c.typ, k, k, SecretFileSuffix)
			}
		}
	}
}

func reflectTypeOf(v any) reflect.Type { return reflect.TypeOf(v) }
