package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportDexPassesCheckConfig: every Dex example configuration in
// internal/dexconfig/testdata (written from the keys Dex documents) converts, and the result
// passes check-config (with every ${VAR} it references set).
func TestImportDexPassesCheckConfig(t *testing.T) {
	examples, err := filepath.Glob("../../internal/dexconfig/testdata/*.yaml")
	if err != nil || len(examples) < 4 {
		t.Fatalf("Dex examples: %v, %v", examples, err)
	}
	for _, ex := range examples {
		abs, err := filepath.Abs(ex)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(ex), func(t *testing.T) {
			var out, errb bytes.Buffer
			if err := run(context.Background(), []string{"import", "dex", "--config", abs}, nil, strings.NewReader(""), &out, &errb); err != nil {
				t.Fatalf("import dex: %v\n%s", err, errb.String())
			}
			if !strings.Contains(out.String(), "# dex: ") {
				t.Errorf("no dex: comment in the output:\n%s", out.String())
			}
			dir := t.TempDir()
			t.Chdir(dir) // relative files of the examples (tls.crt) are looked up here
			cert, key := selfSigned(t, "dex.example.com")
			writeFile(t, dir, "tls.crt", string(cert))
			writeFile(t, dir, "tls.key", string(key))
			converted := writeFile(t, dir, "gatehouse.yaml", out.String())
			var cout, cerr bytes.Buffer
			placeholders := func(k string) string { return "placeholder-" + strings.ToLower(k) + "-0123456789" }
			if err := run(context.Background(), []string{"check-config", converted}, placeholders, strings.NewReader(""), &cout, &cerr); err != nil {
				t.Fatalf("the converted configuration fails check-config: %v\n%s\n--- converted:\n%s", err, cerr.String(), out.String())
			}
		})
	}
}

// TestImportDexCommand: --config - reads stdin; a missing file, a non-mapping and a missing
// --config fail; import without a subcommand prints its usage.
func TestImportDexCommand(t *testing.T) {
	tests := []struct {
		name, stdin string
		args        []string
		ok          bool
		want        string
	}{
		{"stdin", "issuer: http://127.0.0.1:5556/dex\nstorage: {type: sqlite3, config: {file: dex.db}}\n", []string{"dex", "--config", "-"}, true, "issuer: \"http://127.0.0.1:5556/dex\""},
		{"not a mapping", "- a\n- b\n", []string{"dex", "--config", "-"}, false, "a Dex configuration is a YAML mapping"},
		{"missing file", "", []string{"dex", "--config", filepath.Join(t.TempDir(), "nope.yaml")}, false, "no such file"},
		{"no --config", "", []string{"dex"}, false, "Usage: gatehouse import dex"},
		{"no subcommand", "", nil, false, "Usage: gatehouse import <subcommand>"},
		{"unknown subcommand", "", []string{"keycloak"}, false, `unknown subcommand "keycloak"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), append([]string{"import"}, tt.args...), nil, strings.NewReader(tt.stdin), &out, &errb)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v\n%s", err, tt.ok, errb.String())
			}
			got := out.String() + errb.String()
			if err != nil {
				got += err.Error()
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, got)
			}
		})
	}
	if _, err := os.Stat("gatehouse.yaml"); err == nil {
		t.Error("import wrote a file")
	}
}

// TestMigratingFromDexSubExample: the configuration docs/migrating-from-dex.md shows for
// keeping users across the sub change passes check-config, and claims explain shows the
// upstream user ID released as dex_user_id with the dex scope (and not without it).
func TestMigratingFromDexSubExample(t *testing.T) {
	md, err := os.ReadFile("../../docs/migrating-from-dex.md")
	if err != nil {
		t.Fatal(err)
	}
	var cfgText string
	for _, f := range fences(string(md)) {
		if f.lang == "yaml" {
			cfgText = f.body
			break
		}
	}
	if cfgText == "" {
		t.Fatal("docs/migrating-from-dex.md has no yaml example")
	}
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gh.yaml", cfgText)
	if out, errs, err := runDocCmd("check-config", cfg); err != nil {
		t.Fatalf("the page's example fails check-config: %v\n%s%s", err, out, errs)
	}
	in := writeFile(t, dir, "jane.json", `{"subject": "jane", "username": "jane", "email": "jane@example.com", "email_verified": true}`)
	for _, tt := range []struct {
		scopes string
		want   bool
	}{{"openid dex", true}, {"openid", false}} {
		out, errs, err := runDocCmd("claims", "explain", "--config", cfg, "--connector", "ldap", "--input", in, "--scopes", tt.scopes)
		if err != nil {
			t.Fatalf("claims explain: %v\n%s", err, errs)
		}
		if got := strings.Contains(out, `"dex_user_id": "jane"`); got != tt.want {
			t.Errorf("scopes %q: dex_user_id released = %v, want %v:\n%s", tt.scopes, got, tt.want, out)
		}
	}
}
