package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

func TestDefaultConfigAt(t *testing.T) {
	tests := []struct {
		listen, wantHTTP, wantIssuer string
		wantErr                      bool
	}{
		{"", "127.0.0.1:5556", "http://127.0.0.1:5556", false},
		{"127.0.0.1:8080", "127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"localhost:8081", "localhost:8081", "http://localhost:8081", false},
		{"[::1]:9000", "[::1]:9000", "http://[::1]:9000", false},
		{"127.0.0.2:8080", "127.0.0.2:8080", "http://127.0.0.2:8080", false},
		{"0.0.0.0:8080", "", "", true},  // plain http off loopback
		{":8080", "", "", true},         // every interface
		{"10.1.2.3:8080", "", "", true}, // not loopback
		{"example.com:8080", "", "", true},
		{"127.0.0.1", "", "", true},       // no port
		{"127.0.0.1:0", "", "", true},     // the issuer must name the port
		{"127.0.0.1:70000", "", "", true}, // not a port
		{"127.0.0.1:http", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			cfg, err := defaultConfigAt(tt.listen)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if cfg.Web.HTTP != tt.wantHTTP || cfg.Issuer != tt.wantIssuer {
				t.Errorf("web.http %q issuer %q, want %q %q", cfg.Web.HTTP, cfg.Issuer, tt.wantHTTP, tt.wantIssuer)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("the moved default does not validate: %v", err)
			}
		})
	}
}

// TestServeListenMovesDefault: with no config, `serve --listen` and $GATEHOUSE_LISTEN move
// the default's listener and its issuer (discovery says so, the welcome text too); --listen
// wins over the environment; with --config, --listen is refused.
func TestServeListenMovesDefault(t *testing.T) {
	t.Chdir(t.TempDir()) // the default's SQLite file is in the working directory
	for _, tt := range []struct {
		name string
		flag bool
		env  bool
	}{{"flag", true, false}, {"env", false, true}, {"flag over env", true, true}} {
		t.Run(tt.name, func(t *testing.T) {
			port := freePort(t)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			args := []string{"serve"}
			if tt.flag {
				args = append(args, "--listen", addr)
			}
			getenv := func(k string) string {
				if k == listenEnv && tt.env {
					if tt.flag {
						return "127.0.0.1:1" // the flag must win
					}
					return addr
				}
				return ""
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errb syncBuffer
			done := make(chan error, 1)
			go func() { done <- run(ctx, args, getenv, strings.NewReader(""), &out, &errb) }()
			issuer := waitDiscovery(t, "http://"+addr, done, &errb)
			if issuer != "http://"+addr {
				t.Errorf("issuer %q, want http://%s", issuer, addr)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve: %v\n%s", err, errb.String())
			}
			if !strings.Contains(out.String(), "Issuer:       http://"+addr) {
				t.Errorf("the welcome text does not name the moved issuer:\n%s", out.String())
			}
		})
	}
	var errb bytes.Buffer
	err := run(t.Context(), []string{"serve", "--config", "x.yaml", "--listen", "127.0.0.1:8080"}, nil, strings.NewReader(""), new(bytes.Buffer), &errb)
	if err == nil || !strings.Contains(errb.String(), "web.http") {
		t.Errorf("--listen with --config: %v, %s", err, errb.String())
	}
	errb.Reset()
	err = run(t.Context(), []string{"serve", "--listen", "0.0.0.0:8080"}, nil, strings.NewReader(""), new(bytes.Buffer), &errb)
	if err == nil || !strings.Contains(errb.String(), "loopback") {
		t.Errorf("--listen 0.0.0.0:8080: %v, %s", err, errb.String())
	}
}

// waitDiscovery waits for the discovery document at base and returns its issuer.
func waitDiscovery(t *testing.T, base string, done chan error, stderr *syncBuffer) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		resp, err := http.Get(base + "/.well-known/openid-configuration")
		if err == nil {
			var doc struct{ Issuer string }
			derr := json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && derr == nil {
				return doc.Issuer
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("serve did not answer in time")
	return ""
}

// TestStorageCommandsNeedOnlyStorage: backup, mfa reset, audit and secrets rotate read only
// the storage (and secrets, logging, connector IDs) sections: a configuration whose other
// secrets are unset ${VAR}s, as in a shell that is not the server's, still works for them,
// while check-config reports every unset variable. An unset variable in the storage section
// still stops them.
func TestStorageCommandsNeedOnlyStorage(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "gh.db")
	ctx := context.Background()
	store, err := sqlite.Open(ctx, db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := store.PutMFAEnrolment(ctx, storage.MFAEnrolment{UserID: "sub-alice", Username: "alice", WebAuthnID: []byte("a"), CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	write := func(name, storageFile string) string {
		cfg := `issuer: ${ISSUER_UNSET}
storage: {type: sqlite, config: {file: "` + storageFile + `"}}
pairwise_salt: ${SALT_UNSET}
mfa: {secrets_key: "${MFA_KEY_UNSET}"}
clients:
  - {id: app, secret: "${APP_SECRET_UNSET}", redirect_uris: ["https://app.example.com/cb"]}
connectors:
  - type: ldap
    id: corp
    name: Corp
    config: {host: "ldap.example.com:636", bind_dn: "cn=svc", bind_password: "${LDAP_PW_UNSET}"}
`
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := write("gh.yaml", db)
	badStorage := write("bad.yaml", "${DB_FILE_UNSET}")
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		want    string // in stdout+stderr
	}{
		{"backup", []string{"backup", "--config", cfg, "--to", filepath.Join(dir, "b.db")}, false, "backed up"},
		{"mfa reset", []string{"mfa", "reset", "--config", cfg, "--user", "alice"}, false, "sub sub-alice"},
		{"audit", []string{"audit", "--config", cfg}, false, "mfa.reset"},
		{"check-config reports them", []string{"check-config", cfg}, true, "APP_SECRET_UNSET"},
		{"backup, storage var unset", []string{"backup", "--config", badStorage, "--to", filepath.Join(dir, "c.db")}, true, "DB_FILE_UNSET"},
		{"mfa reset, storage var unset", []string{"mfa", "reset", "--config", badStorage, "--user", "alice"}, true, "DB_FILE_UNSET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(ctx, tt.args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v\nstdout: %s\nstderr: %s", err, tt.wantErr, out.String(), errb.String())
			}
			if got := out.String() + errb.String(); !strings.Contains(got, tt.want) {
				t.Errorf("output does not mention %q:\n%s", tt.want, got)
			}
		})
	}
}
