package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestOpenExplainsBadLocation: every storage error at start names the file and says what to
// do (issue 13.5), instead of a bare "unable to open database file".
func TestOpenExplainsBadLocation(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte("this is not a database, just some text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       []string
	}{
		{"missing directory", filepath.Join(dir, "nope", "gatehouse.db"), []string{filepath.Join(dir, "nope"), "does not exist", "storage.config.file"}},
		{"a directory", dir, []string{dir, "is a directory"}},
		{"not a database", notDB, []string{notDB, "not an SQLite database"}},
		// /proc refuses new files even to root, so this case holds however the tests run.
		{"read-only location", "/proc/gatehouse-test.db", []string{"/proc/gatehouse-test.db", "cannot write", "writable directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.path, testLogger(t))
			if err == nil {
				_ = s.Close()
				t.Fatalf("Open(%s) succeeded", tt.path)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// damagedDB creates a database with enough users to fill several pages, closes it, and
// overwrites the root page of local_users with garbage. It returns the path.
func damagedDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(t.Context(), path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 200 {
		u := storage.LocalUser{Username: "user" + strings.Repeat("x", 40) + string(rune('a'+i%26)) + time.Duration(i).String(),
			PasswordHash: strings.Repeat("h", 60), CreatedAt: now, UpdatedAt: now}
		if err := s.CreateLocalUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	var root, pageSize int64
	if err := s.writer.QueryRowContext(t.Context(), `SELECT rootpage FROM sqlite_master WHERE name = 'local_users'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := s.writer.QueryRowContext(t.Context(), `PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.ExecContext(t.Context(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", int(pageSize)/4))
	if _, err := f.WriteAt(garbage, (root-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOpenRefusesDamagedFile: a file with damaged pages is refused at start with a message
// that names the file and says how to restore it (issue 13.5), instead of serving until
// every login fails with "database disk image is malformed".
func TestOpenRefusesDamagedFile(t *testing.T) {
	path := damagedDB(t)
	s, err := Open(t.Context(), path, testLogger(t))
	if err == nil {
		_ = s.Close()
		t.Fatal("Open accepted a damaged database")
	}
	for _, w := range []string{path, "damaged", "gatehouse backup"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// TestPingReadsTheStores: readiness is a real read of the tables the broker needs (issue
// 13.5): on a file damaged underneath a running process (modelled by pools opened without
// Open's integrity check), Ping fails, where a connection ping said healthy.
func TestPingReadsTheStores(t *testing.T) {
	path := damagedDB(t)
	writer, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	reader, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{path: path, logger: testLogger(t), writer: writer, reader: reader, stmts: map[stmtKey]*sql.Stmt{}}
	defer func() { _ = s.Close() }()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.writer.PingContext(ctx); err != nil {
		t.Fatalf("the connection itself is fine, yet PingContext failed: %v", err)
	}
	err = s.Ping(ctx)
	if err == nil {
		t.Fatal("Ping reported a damaged local_users table healthy")
	}
	if !strings.Contains(err.Error(), "local_users") || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Ping error %q does not name the table and the damage", err)
	}
}
