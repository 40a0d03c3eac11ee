package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSealKey(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, SealKeySize)
	for name, content := range map[string][]byte{
		"raw":    raw,
		"hex":    []byte(hex.EncodeToString(raw) + "\n"),
		"base64": []byte(base64.StdEncoding.EncodeToString(raw) + "\n"),
	} {
		if got, err := ParseSealKey(content); err != nil || !bytes.Equal(got, raw) {
			t.Errorf("%s: ParseSealKey = %x, %v", name, got, err)
		}
	}
	for _, bad := range []string{"", "too short", strings.Repeat("a", 33), strings.Repeat("z", 64)} {
		if _, err := ParseSealKey([]byte(bad)); err == nil {
			t.Errorf("ParseSealKey(%q) accepted", bad)
		}
	}
}

// TestSecretsValidation: a key file that is not a 32-byte key, a missing file and a duplicate
// ID are errors at their file:line, naming the key and the file.
func TestSecretsValidation(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "k2")
	short := filepath.Join(dir, "k1")
	if err := os.WriteFile(good, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := "issuer: http://127.0.0.1:5556\nsecrets:\n  keys:\n    - id: k2\n      file: " + good +
		"\n    - id: k1\n      file: " + short + "\n    - id: k2\n      file: " + filepath.Join(dir, "missing") + "\n"
	cfg, err := Parse([]byte(src), "gh.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	if err = cfg.Validate(); err == nil {
		t.Fatal("Parse accepted bad seal keys")
	}
	msg := err.Error()
	for _, want := range []string{
		"gh.yaml:7: secrets.keys[1].file: key \"k1\": " + short + " holds 10 bytes",
		"gh.yaml:8: secrets.keys[2].id: key \"k2\" is listed twice",
		"secrets.keys[2].file: key \"k2\": cannot read",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
	cfg, err = Parse([]byte("issuer: http://127.0.0.1:5556\nsecrets: { keys: [{ id: k2, file: "+good+" }] }\nconnectors: [{type: local, id: local}]\n"), "ok.yaml", func(string) string { return "" })
	if err == nil {
		cfg.ApplyDefaults()
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatalf("a good key: %v", err)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("Warnings with seal keys = %q", w)
	}
	cfg.Secrets = Secrets{}
	if w := cfg.Warnings(); len(w) != 1 || !strings.Contains(w[0], "secrets.keys is not set") {
		t.Errorf("Warnings without seal keys = %q", w)
	}
}
