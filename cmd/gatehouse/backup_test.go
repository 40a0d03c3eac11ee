package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

func TestBackup(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "gh.db")
	src, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.CreateLocalUser(t.Context(), storage.LocalUser{Username: "alice", Email: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	defer src.Close() // open during the backup: the snapshot is online

	writeCfg := func(name, storageBlock string) string {
		file := filepath.Join(dir, name)
		cfg := "issuer: http://127.0.0.1:5556\nstorage:\n" + storageBlock +
			"connectors:\n  - type: local\n    id: local\n    name: Local\n"
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	sqliteCfg := writeCfg("sqlite.yaml", "  type: sqlite\n  config:\n    file: "+db+"\n")
	missingCfg := writeCfg("missing.yaml", "  type: sqlite\n  config:\n    file: "+filepath.Join(dir, "nope.db")+"\n")
	pgCfg := writeCfg("pg.yaml", "  type: postgres\n  config:\n    dsn: postgres://gh@127.0.0.1:1/gh\n")
	dest := filepath.Join(dir, "backup.db")

	tests := []struct {
		name       string
		args       []string
		wantErr    bool
		wantOutput string // in stdout+stderr
	}{
		{"snapshot", []string{"--config", sqliteCfg, "--to", dest}, false, "backed up"},
		{"destination exists", []string{"--config", sqliteCfg, "--to", dest}, true, ""},
		{"no database", []string{"--config", missingCfg, "--to", filepath.Join(dir, "b2.db")}, true, ""},
		{"postgres points to pg_dump", []string{"--config", pgCfg, "--to", filepath.Join(dir, "b3.db")}, true, "pg_dump"},
		{"no destination", []string{"--config", sqliteCfg}, true, "Usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"backup"}, tt.args...), func(string) string { return "" },
				strings.NewReader(""), &stdout, &stderr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v\nstderr: %s", err, tt.wantErr, stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tt.wantOutput) {
				t.Errorf("output %q does not mention %q", out, tt.wantOutput)
			}
		})
	}

	restored, err := sqlite.Open(t.Context(), dest, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	u, err := restored.GetLocalUser(t.Context(), "alice")
	if err != nil || u.Email != "alice@example.com" {
		t.Errorf("restored store: GetLocalUser = %+v, %v", u, err)
	}
}
