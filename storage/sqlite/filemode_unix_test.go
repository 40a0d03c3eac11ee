//go:build unix

package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// withUmask runs the test under umask 022 (the usual default), restoring the old one after.
func withUmask(t *testing.T) {
	t.Helper()
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
}

// wantMode fails t unless the file exists with exactly mode 0600.
func wantMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("%s: mode %#o, want 0600", filepath.Base(path), got)
	}
}

// TestFileModes: the database and its WAL, shared-memory and backup files are private.
// Attack (issue 12 item 11): under the usual umask 022 the database (private signing keys,
// upstream refresh tokens) and its -wal/-shm files were created 0644, readable by every
// local user, and so were backups.
func TestFileModes(t *testing.T) {
	withUmask(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.db")
	s := openAt(t, path)
	if err := s.CreateLocalUser(t.Context(), storage.LocalUser{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		wantMode(t, f)
	}
	dest := filepath.Join(dir, "backup.db")
	if err := s.Backup(t.Context(), dest); err != nil {
		t.Fatal(err)
	}
	wantMode(t, dest)
}

// TestFileModesTightenExisting: a database left readable by others by an earlier version is
// made private when it is opened.
func TestFileModesTightenExisting(t *testing.T) {
	withUmask(t)
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s := openAt(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, 0o644); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	s = openAt(t, path)
	if err := s.CreateLocalUser(t.Context(), storage.LocalUser{Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(f); err == nil || !os.IsNotExist(err) {
			wantMode(t, f)
		}
	}
}
