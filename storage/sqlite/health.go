package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-id/gatehouse/storage/schema"
)

// restoreHint tells an operator what to do with a damaged database file.
const restoreHint = "stop Gatehouse, move the file aside and restore the last copy made with `gatehouse backup` (or delete it to start empty)"

// checkLocation explains, before SQLite is asked, why path cannot hold the database: its
// directory is missing or not a directory, or an existing file is not an SQLite database.
func checkLocation(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sqlite: cannot create %s: the directory %s does not exist; create it or set storage.config.file to a path in an existing directory", path, dir)
	case err != nil:
		return fmt.Errorf("sqlite: cannot use %s: %w", path, err)
	case !st.IsDir():
		return fmt.Errorf("sqlite: cannot create %s: %s is not a directory", path, dir)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot read %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return fmt.Errorf("sqlite: %s is a directory; storage.config.file must name a database file", path)
	}
	head := make([]byte, 16)
	n, err := io.ReadFull(f, head)
	if n == 0 && (err == io.EOF || err == nil) {
		return nil // an empty file becomes a new database
	}
	if !bytes.Equal(head[:n], []byte("SQLite format 3\x00")) {
		return fmt.Errorf("sqlite: %s is not an SQLite database (wrong file header); point storage.config.file at Gatehouse's database or at a new file", path)
	}
	return nil
}

// explainOpenError adds what to do to an error SQLite gave while opening or migrating path.
func explainOpenError(path string, err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("sqlite: %s is damaged: %w; %s", path, err, restoreHint)
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		return fmt.Errorf("sqlite: cannot write %s (or its -wal/-shm files next to it): %w; Gatehouse needs a writable directory for its database", path, err)
	}
	return err
}

// checkIntegrity runs SQLite's quick_check (every page and index, without the cross-checks
// of a full integrity_check) and refuses a damaged file with what to do.
func (s *Store) checkIntegrity(ctx context.Context) error {
	rows, err := s.writer.QueryContext(ctx, `PRAGMA quick_check(10)`)
	if err != nil {
		return explainOpenError(s.path, fmt.Errorf("integrity check: %w", err))
	}
	defer func() { _ = rows.Close() }()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return explainOpenError(s.path, fmt.Errorf("integrity check: %w", err))
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return explainOpenError(s.path, fmt.Errorf("integrity check: %w", err))
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite: %s is damaged (%s); %s", s.path, strings.Join(problems, "; "), restoreHint)
	}
	return nil
}

// readProbe reads one row of every table in schema.ReadinessTables through db.
func (s *Store) readProbe(ctx context.Context, write bool) error {
	db := s.reader
	if write {
		db = s.writer
	}
	for _, t := range schema.ReadinessTables {
		var one int
		err := db.QueryRowContext(ctx, `SELECT 1 FROM `+t+` LIMIT 1`).Scan(&one)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return explainOpenError(s.path, fmt.Errorf("read %s: %w", t, err))
		}
	}
	return nil
}
