package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// enableWAL switches the database file at path to WAL mode before the Store's pools open.
//
// Switching a new file to WAL takes an exclusive lock, and SQLite answers SQLITE_BUSY at
// once (without calling the busy handler) when another process holds any lock on the file,
// as it does when several replicas open one new file together. So the switch is retried with
// a bounded backoff until deadline; once the file is in WAL mode (a persistent property of
// the file) the pools' own journal_mode pragma is a no-op that needs no exclusive lock.
func enableWAL(ctx context.Context, path string, deadline time.Duration) error {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	u := url.URL{Scheme: "file", Opaque: url.PathEscape(path), RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	defer func() { _ = db.Close() }() //nolint:errcheck // a helper connection used for one pragma; its result was checked
	db.SetMaxOpenConns(1)

	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	wait := 2 * time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode=WAL`).Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("sqlite: %s: journal mode is %q, WAL could not be enabled", path, mode)
			}
			return nil
		}
		if !isBusy(err) {
			return fmt.Errorf("sqlite: %s: enable WAL: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sqlite: %s: enable WAL: still locked by another process after %s: %w", path, deadline, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}
