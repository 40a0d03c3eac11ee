// Package postgres is the PostgreSQL storage backend (github.com/jackc/pgx/v5, pgxpool).
//
// It is the backend for several Gatehouse replicas behind a load balancer: every replica
// opens a Store on the same database and they behave as one server.
//
//   - Migrations are embedded and numbered; Open applies the pending ones in one
//     transaction under a transaction-scoped advisory lock, so replicas starting at once
//     apply each migration exactly once (the others wait, then find nothing to do).
//   - Single-use values are consumed in one statement (UPDATE ... RETURNING, or a
//     SELECT ... FOR UPDATE inside a data-modifying CTE for refresh rotation): of N
//     concurrent attempts on any number of replicas exactly one wins.
//   - UpdateSigningKeys runs under a transaction-scoped advisory lock: key rotation is a
//     lease across replicas.
//   - GC runs under a session advisory try-lock (one replica at a time; the others skip)
//     and deletes in batches of gcBatch rows, each its own short transaction.
//   - Every connection has a statement_timeout and an idle_in_transaction_session_timeout;
//     Ping is bounded by a short timeout so readiness fails fast when the database is
//     down, and the pool reconnects by itself when it returns.
//
// Advisory-lock keys are derived from the schema name, so several Gatehouse deployments
// can share one database in separate schemas (Config.Schema).
//
// Times are stored as BIGINT unix milliseconds (0 for the zero time; a zero expiry never
// expires) and returned in UTC; slices and structs are stored as JSON text.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/schema"
)

var _ storage.Storage = (*Store)(nil)

// Defaults for Config's zero values.
const (
	DefaultMaxConns         = 20
	DefaultStatementTimeout = 5 * time.Second
	DefaultConnectTimeout   = 5 * time.Second
	// pingTimeout bounds Ping whatever its context says: readiness must answer quickly.
	pingTimeout = 2 * time.Second
	// gcBatch is how many rows one GC statement deletes.
	gcBatch = 1000
)

// Advisory-lock classes (the first key of the two-key advisory lock functions); the
// second key is hashtext(schema name).
const (
	lockMigrate = 0x6761_7401 // "gat" + 1
	lockKeys    = 0x6761_7402
	lockGC      = 0x6761_7403
	lockRate    = 0x6761_7404
)

// Config says how to reach the database. Either DSN (a libpq URL or keyword/value string)
// or the discrete fields are used; DSN wins when both are set.
type Config struct {
	DSN string

	Host        string
	Port        int
	Database    string
	User        string
	Password    string
	SSLMode     string // disable, allow, prefer, require, verify-ca, verify-full
	SSLRootCert string // CA file for verify-ca / verify-full

	// Schema, if set, is created when missing and used as the search_path of every
	// connection: several deployments (or tests) can share one database.
	Schema string

	MaxConns         int           // pool size; 0: DefaultMaxConns
	StatementTimeout time.Duration // per statement; 0: DefaultStatementTimeout
	ConnectTimeout   time.Duration // per connection attempt; 0: DefaultConnectTimeout
}

// ConnString returns the connection string the Config describes: DSN if set, else a
// keyword/value string built from the discrete fields (values quoted as libpq requires).
func (c Config) ConnString() string {
	if c.DSN != "" {
		return c.DSN
	}
	var parts []string
	add := func(k, v string) {
		if v == "" {
			return
		}
		v = strings.ReplaceAll(v, `\`, `\\`)
		v = strings.ReplaceAll(v, `'`, `\'`)
		parts = append(parts, k+"='"+v+"'")
	}
	add("host", c.Host)
	if c.Port != 0 {
		add("port", strconv.Itoa(c.Port))
	}
	add("dbname", c.Database)
	add("user", c.User)
	add("password", c.Password)
	add("sslmode", c.SSLMode)
	add("sslrootcert", c.SSLRootCert)
	return strings.Join(parts, " ")
}

// Store is a storage.Storage backed by a PostgreSQL database. It is safe for concurrent
// use, and any number of Stores (replicas) may be opened on the same database.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	// lockKey is hashtext(schema): the second key of every advisory lock.
	lockKey int32
	// sealer seals the secret columns (storage.SealedColumns); nil: they are stored clear.
	sealer storage.Sealer
	// observer times every statement (queryTracer; storage.Observable).
	observer *storage.ObserverSlot
}

// Option configures Open.
type Option func(*Store)

// WithSealer seals secret columns at rest with sl (storage.Sealer); rows stored clear before
// stay readable until Reseal rewrites them.
func WithSealer(sl storage.Sealer) Option { return func(s *Store) { s.sealer = sl } }

// Open connects to the database, applies pending migrations and returns the Store. A nil
// logger discards logs.
func Open(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pcfg, err := poolConfig(cfg)
	if err != nil {
		return nil, err
	}
	observer := &storage.ObserverSlot{}
	pcfg.ConnConfig.Tracer = queryTracer{observer}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool: %w", err)
	}
	s := &Store{pool: pool, logger: logger, observer: observer}
	for _, o := range opts {
		o(s)
	}
	if err := s.migrate(ctx, cfg.Schema); err != nil {
		pool.Close()
		return nil, err
	}
	if err := pool.QueryRow(ctx, `SELECT hashtext(current_schema())`).Scan(&s.lockKey); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: read current schema: %w", err)
	}
	return s, nil
}

// poolConfig turns cfg into a pgxpool configuration with Gatehouse's session settings.
func poolConfig(cfg Config) (*pgxpool.Config, error) {
	connString := cfg.ConnString()
	if connString == "" {
		return nil, errors.New("postgres: no dsn and no host: nothing to connect to")
	}
	pcfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgx's message may quote the connection string; never echo a password.
		return nil, errors.New("postgres: invalid connection string (dsn or discrete fields)")
	}
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	pcfg.MaxConns = int32(min(maxConns, 1<<20))
	pcfg.MinConns = 0
	pcfg.HealthCheckPeriod = 15 * time.Second
	pcfg.MaxConnIdleTime = 5 * time.Minute
	stmtTimeout := cfg.StatementTimeout
	if stmtTimeout <= 0 {
		stmtTimeout = DefaultStatementTimeout
	}
	connectTimeout := cfg.ConnectTimeout
	if connectTimeout <= 0 {
		connectTimeout = DefaultConnectTimeout
	}
	pcfg.ConnConfig.ConnectTimeout = connectTimeout
	rp := pcfg.ConnConfig.RuntimeParams
	rp["statement_timeout"] = strconv.FormatInt(stmtTimeout.Milliseconds(), 10)
	rp["idle_in_transaction_session_timeout"] = strconv.FormatInt((4 * stmtTimeout).Milliseconds(), 10)
	rp["timezone"] = "UTC"
	if _, ok := rp["application_name"]; !ok {
		rp["application_name"] = "gatehouse"
	}
	if cfg.Schema != "" {
		rp["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	return pcfg, nil
}

// Close closes the pool (waiting for connections in use to be released).
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping reports whether the database answers, within a short timeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	// A real read of the tables the broker serves from, not only a round trip, so a table
	// that cannot be read (dropped, permissions revoked, damaged) fails readiness.
	for _, t := range schema.ReadinessTables {
		var one int
		err := s.pool.QueryRow(ctx, `SELECT 1 FROM `+t+` LIMIT 1`).Scan(&one)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: ping: read %s: %w", t, err)
		}
	}
	return nil
}

// Pool returns the underlying pool (for tools: backups, benchmarks, diagnostics).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// inTx runs fn in a READ COMMITTED transaction and commits if fn returns nil. fn's error
// is returned unchanged (after rollback).
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// isUnique reports whether err is a unique or primary-key violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// insertErr maps an insert error: a key collision becomes storage.ErrAlreadyExists.
func insertErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if isUnique(err) {
		return fmt.Errorf("postgres: %s: %w", what, storage.ErrAlreadyExists)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// getErr maps a single-row read error: no rows becomes storage.ErrNotFound.
func getErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", what, storage.ErrNotFound)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// mustAffect returns storage.ErrNotFound when the command touched no row.
func mustAffect(what string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", what, storage.ErrNotFound)
	}
	return nil
}
