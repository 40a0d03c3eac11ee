package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/assembly"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

func writeMFAConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	cfg := `issuer: http://localhost:5556
web: {http: "127.0.0.1:5556"}
storage: {type: sqlite, config: {file: "` + filepath.Join(dir, "gh.db") + `"}}
mfa:
  secrets_key: ${MFA_KEY}
connectors:
  - {type: local, id: local, name: Local, mfa: required}
clients:
  - {id: payroll, secret: s, redirect_uris: ["http://127.0.0.1:9/cb"], mfa: optional}
` + extra
	path := filepath.Join(dir, "gh.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func testGetenv(k string) string {
	if k == "MFA_KEY" {
		return "cmd-test-secrets-key-0123456789abcdef"
	}
	return ""
}

func TestNewMFA(t *testing.T) {
	dir := t.TempDir()
	// Issue 12.10: service_providers[].mfa is the SP's pseudo-client's policy.
	cfg, err := loadConfig(writeMFAConfig(t, dir, "  - {id: other, secret: s, redirect_uris: [\"http://127.0.0.1:9/x\"]}\n"+
		"service_providers:\n  - {id: wiki, entity_id: \"https://wiki.example.com\", acs_url: \"https://wiki.example.com/acs\", mfa: required}\n"), testGetenv)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "gh.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := assembly.NewMFA(cfg, store, nil, nil)
	if err != nil || m == nil {
		t.Fatalf("NewMFA = %v, %v", m, err)
	}
	if m.Connectors["local"].Policy != mfa.Required || m.Clients["payroll"] != mfa.Optional || m.Clients["other"] != mfa.Off ||
		m.Clients["saml:wiki"] != mfa.Required {
		t.Errorf("policies: %+v %+v", m.Connectors, m.Clients)
	}
	if m.Service.WebAuthnEnabled() {
		t.Error("WebAuthn enabled without rp_id")
	}
	cfg.MFA.WebAuthn.RPID = "localhost"
	if m, err = assembly.NewMFA(cfg, store, nil, nil); err != nil || !m.Service.WebAuthnEnabled() {
		t.Errorf("with rp_id: %v", err)
	}
	off := defaultConfig()
	if m, err := assembly.NewMFA(off, store, nil, nil); m != nil || err != nil {
		t.Errorf("default config: %v, %v", m, err)
	}
}

func TestMFAResetCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeMFAConfig(t, dir, "")
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "gh.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, u := range []struct{ sub, name string }{{"sub-alice", "alice"}, {"sub-bob", "bob@example.com"}, {"sub-carol", "carol"}} {
		if _, err := store.PutMFAEnrolment(ctx, storage.MFAEnrolment{UserID: u.sub, Username: u.name, WebAuthnID: []byte(u.sub), CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := store.CreateMFAFactor(ctx, storage.MFAFactor{ID: "f-" + u.sub, UserID: u.sub, Type: storage.MFATypeTOTP, Name: "Phone", Secret: []byte{1}, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	// carol is linked from the local connector under another name.
	if _, _, err := store.LinkUser(ctx, "local", "caroline", "sub-carol", now); err != nil {
		t.Fatal(err)
	}
	store.Close()

	tests := []struct {
		name, user string
		wantSub    string
		wantErr    bool
	}{
		{"by sub", "sub-alice", "sub-alice", false},
		{"by enrolled name, any case", "BOB@example.com", "sub-bob", false},
		{"by local username", "caroline", "sub-carol", false},
		{"already reset", "sub-alice", "", true},
		{"unknown", "nobody", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(ctx, []string{"mfa", "reset", "--config", cfgPath, "--user", tt.user}, testGetenv, strings.NewReader(""), &out, &errOut)
			if (err != nil) != tt.wantErr {
				t.Fatalf("run = %v; stdout %s stderr %s", err, out.String(), errOut.String())
			}
			if !tt.wantErr && !strings.Contains(out.String(), "sub "+tt.wantSub) {
				t.Errorf("output %q does not name %s", out.String(), tt.wantSub)
			}
		})
	}
	if err := run(ctx, []string{"mfa"}, testGetenv, strings.NewReader(""), io.Discard, io.Discard); err == nil {
		t.Error("mfa without a subcommand succeeded")
	}
	// Each reset is an operator's mfa.reset audit event.
	var out bytes.Buffer
	if err := run(ctx, []string{"audit", "--config", cfgPath}, testGetenv, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"sub-alice", "sub-bob", "sub-carol"} {
		if strings.Count(out.String(), `mfa.reset            success         user="`+sub+`" by="operator"`) != 1 {
			t.Errorf("no single mfa.reset event of %s in:\n%s", sub, out.String())
		}
	}
}
