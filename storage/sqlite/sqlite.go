// Package sqlite is the SQLite storage backend (modernc.org/sqlite, pure Go).
//
// The database runs in WAL mode with synchronous=NORMAL (durable against a process kill;
// a power loss can drop the last transactions but never corrupts the file), foreign keys
// on and a busy timeout. A Store holds two connection pools: one writer connection, so
// writes of one process never contend with each other, and a pool of readers, which WAL
// lets run alongside the writer. Every read-modify-write operation runs in a
// BEGIN IMMEDIATE transaction, so it takes the write lock before it reads: several Stores
// on one file (replicas, or several processes) serialize on that lock and never see
// SQLITE_BUSY from a lock upgrade.
//
// Times are stored as INTEGER unix milliseconds (0 for the zero time; a zero expiry never
// expires) and are returned in UTC; slices and structs are stored as JSON text. The schema
// is created and upgraded by embedded, numbered migrations applied at Open.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.Storage = (*Store)(nil)

// busyTimeout is how long a connection waits for another handle's write lock.
const busyTimeout = 10 * time.Second

// Store is a storage.Storage backed by one SQLite database file. It is safe for
// concurrent use, and several Stores may be opened on the same file.
type Store struct {
	path   string
	logger *slog.Logger
	writer *sql.DB // exactly one connection; transactions begin IMMEDIATE
	reader *sql.DB // read pool

	// stmts holds every query of the package, prepared on both pools at Open; it is
	// read-only afterwards.
	stmts map[stmtKey]*sql.Stmt

	// sealer seals the secret columns (storage.SealedColumns); nil: they are stored clear.
	sealer storage.Sealer
	// observer times the statements and transactions of exec, writeRow, queryRow, query and
	// inTx (storage.Observable).
	observer storage.ObserverSlot
	// decoded caches the decoding of grants' JSON columns for the hot reads (grantcache.go).
	decoded decodedGrants
}

// Option configures Open.
type Option func(*Store)

// WithSealer seals secret columns at rest with sl (storage.Sealer); rows stored clear before
// stay readable until Reseal rewrites them.
func WithSealer(sl storage.Sealer) Option { return func(s *Store) { s.sealer = sl } }

type stmtKey struct {
	write bool
	query string
}

// Open opens (creating if needed) the database at path, applies pending migrations and
// returns the Store. path is a file name; ":memory:" is not supported because the
// writer and the readers are separate connections. A nil logger discards logs.
func Open(ctx context.Context, path string, logger *slog.Logger, opts ...Option) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: open: a file path is required, got %q", path)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := checkLocation(path); err != nil {
		return nil, err
	}
	if err := privateFiles(path, logger); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := enableWAL(ctx, path, busyTimeout); err != nil {
		return nil, explainOpenError(path, err)
	}
	writer, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	reader, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		_ = writer.Close() //nolint:errcheck // Open already failed; its error is returned
		return nil, fmt.Errorf("sqlite: open reader: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)

	s := &Store{path: path, logger: logger, writer: writer, reader: reader, stmts: map[stmtKey]*sql.Stmt{}}
	for _, o := range opts {
		o(s)
	}
	if err := s.checkIntegrity(ctx); err != nil {
		_ = s.Close() //nolint:errcheck // Open already failed; its error is returned
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.Close() //nolint:errcheck // Open already failed; its error is returned
		return nil, explainOpenError(path, err)
	}
	if err := s.prepare(ctx); err != nil {
		_ = s.Close() //nolint:errcheck // Open already failed; its error is returned
		return nil, err
	}
	return s, nil
}

// dsn builds the modernc DSN. The writer begins every transaction IMMEDIATE.
func dsn(path string, write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Deleted and overwritten content is zeroed, so a secret replaced by its sealed form
	// (or a deleted row) does not linger in free pages of the file.
	q.Add("_pragma", "secure_delete(1)")
	if write {
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Opaque: url.PathEscape(path), RawQuery: q.Encode()}
	return u.String()
}

// Close closes both connection pools.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		_ = st.Close()
	}
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// Ping reports whether the database answers on both pools: a real read of one row of each
// table the broker serves from (schema.ReadinessTables), so a damaged table is not reported healthy.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.readProbe(ctx, false); err != nil {
		return fmt.Errorf("sqlite: ping reader: %w", err)
	}
	if err := s.readProbe(ctx, true); err != nil {
		return fmt.Errorf("sqlite: ping writer: %w", err)
	}
	return nil
}

// Backup writes a consistent snapshot of the live database to destPath (which must not
// exist) with VACUUM INTO. Writers keep running while it copies. The snapshot is created
// 0600 first (VACUUM INTO fills an empty file), as it holds the same secrets.
func (s *Store) Backup(ctx context.Context, destPath string) error {
	f, err := os.OpenFile(destPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", destPath, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", destPath, err)
	}
	if _, err := s.reader.ExecContext(ctx, "VACUUM INTO ?", destPath); err != nil {
		return errors.Join(fmt.Errorf("sqlite: backup to %s: %w", destPath, err), os.Remove(destPath))
	}
	return nil
}

// privateFiles makes the database private to its owner: a new database file is created 0600
// before SQLite opens it (SQLite creates the -wal and -shm files with the database file's
// permissions), and group and other permissions are taken from an existing database and its
// -wal, -shm and -journal files. They hold private signing keys and upstream refresh tokens.
func privateFiles(path string, logger *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("cannot write %s: %w; Gatehouse needs a writable directory for its database", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil {
				return err
			}
			logger.Warn("database file was readable by other users; made private", "file", p, "was", fmt.Sprintf("%#o", perm))
		}
	}
	return nil
}

// prepare prepares every query of the package on both pools. Statements are prepared
// up front, never lazily: preparing on the writer pool while a transaction holds its only
// connection would wait for that transaction.
func (s *Store) prepare(ctx context.Context) error {
	for _, q := range allQueries() {
		for _, write := range []bool{true, false} {
			db := s.reader
			if write {
				db = s.writer
			}
			st, err := db.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("sqlite: prepare %q: %w", q, err)
			}
			s.stmts[stmtKey{write, q}] = st
		}
	}
	return nil
}

// stmt returns the prepared statement for query on the writer or reader pool.
func (s *Store) stmt(write bool, query string) (*sql.Stmt, error) {
	st, ok := s.stmts[stmtKey{write, query}]
	if !ok {
		return nil, fmt.Errorf("sqlite: query not prepared (missing from allQueries): %q", query)
	}
	return st, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// errScanner reports err from Scan.
type errScanner struct{ err error }

// Scan reports the stored error.
func (e errScanner) Scan(...any) error { return e.err }

// exec runs a write statement outside a transaction (it commits on its own).
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(true, query)
	if err != nil {
		return nil, err
	}
	defer s.observer.Done(ctx, query, time.Now())
	return st.ExecContext(ctx, args...)
}

// writeRow runs a single-row statement (UPDATE ... RETURNING) on the writer.
func (s *Store) writeRow(ctx context.Context, query string, args ...any) scanner {
	st, err := s.stmt(true, query)
	if err != nil {
		return errScanner{err}
	}
	defer s.observer.Done(ctx, query, time.Now())
	return st.QueryRowContext(ctx, args...)
}

// queryRow runs a single-row read on the reader pool.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) scanner {
	st, err := s.stmt(false, query)
	if err != nil {
		return errScanner{err}
	}
	defer s.observer.Done(ctx, query, time.Now())
	return st.QueryRowContext(ctx, args...)
}

// query runs a multi-row read on the reader pool.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(false, query)
	if err != nil {
		return nil, err
	}
	defer s.observer.Done(ctx, query, time.Now())
	return st.QueryContext(ctx, args...)
}

// txn is a BEGIN IMMEDIATE transaction on the writer connection.
type txn struct {
	s  *Store
	tx *sql.Tx
}

func (t *txn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.s.stmt(true, query)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

func (t *txn) queryRow(ctx context.Context, query string, args ...any) scanner {
	st, err := t.s.stmt(true, query)
	if err != nil {
		return errScanner{err}
	}
	return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

func (t *txn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.s.stmt(true, query)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

// inTx runs fn in a BEGIN IMMEDIATE transaction on the writer connection and commits if
// fn returns nil. fn's error is returned unchanged (after rollback).
func (s *Store) inTx(ctx context.Context, fn func(t *txn) error) error {
	defer s.observer.Done(ctx, "tx", time.Now())
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(&txn{s: s, tx: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// isUnique reports whether err is a primary-key or unique constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// insertErr maps an insert error: a key collision becomes storage.ErrAlreadyExists.
func insertErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if isUnique(err) {
		return fmt.Errorf("sqlite: %s: %w", what, storage.ErrAlreadyExists)
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

// getErr maps a single-row read error: no rows becomes storage.ErrNotFound.
func getErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", what, storage.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

// mustAffect returns storage.ErrNotFound when res touched no row.
func mustAffect(what string, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", what, storage.ErrNotFound)
	}
	return nil
}
