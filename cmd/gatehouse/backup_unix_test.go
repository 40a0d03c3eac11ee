//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// TestBackupFileModes: `gatehouse backup` writes the snapshot 0600, and the database it
// snapshots (with its -wal and -shm files) is 0600 too.
// Attack (issue 12 item 11): under umask 022 the backup of the database (private signing keys,
// upstream refresh tokens) was written 0644, readable by every local user.
func TestBackupFileModes(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	db := filepath.Join(dir, "gh.db")
	src, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.CreateLocalUser(t.Context(), storage.LocalUser{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "gatehouse.yaml")
	body := "issuer: http://127.0.0.1:5556\nstorage:\n  type: sqlite\n  config:\n    file: " + db +
		"\nconnectors:\n  - type: local\n    id: local\n    name: Local\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "backup.db")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"backup", "--config", cfg, "--to", dest}, func(string) string { return "" },
		strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr.String())
	}
	for _, f := range []string{db, db + "-wal", db + "-shm", dest} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", filepath.Base(f), got)
		}
	}
}
