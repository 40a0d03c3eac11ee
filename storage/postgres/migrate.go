package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/schema"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one numbered schema change.
type migration = schema.Migration

// loadMigrations reads and checks the NNNN_name.sql files of dir in fsys.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	ms, err := schema.Load(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ms, nil
}

// migrate applies every pending embedded migration.
func (s *Store) migrate(ctx context.Context, schema string) error {
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	return s.applyMigrations(ctx, schema, ms)
}

// applyMigrations applies ms[current:] in one transaction holding a transaction-scoped
// advisory lock keyed on the schema: replicas starting at once serialize here, the first
// applies the migrations, the others then find them applied. PostgreSQL DDL is
// transactional, so a failing migration leaves nothing behind.
func (s *Store) applyMigrations(ctx context.Context, schema string, ms []migration) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(NULLIF($2::text, ''), current_schema(), '')))`,
			lockMigrate, schema); err != nil {
			return fmt.Errorf("postgres: migrate: lock: %w", err)
		}
		if schema != "" {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
				return fmt.Errorf("postgres: migrate: create schema %q: %w", schema, err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at BIGINT NOT NULL
		)`); err != nil {
			return fmt.Errorf("postgres: migrate: create schema_migrations: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("postgres: migrate: read version: %w", err)
		}
		if current > len(ms) {
			return fmt.Errorf("postgres: database schema version %d is newer than this binary's (%d): %w", current, len(ms), storage.ErrSchemaTooNew)
		}
		now := time.Now().UnixMilli()
		for _, m := range ms[current:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("postgres: migration %04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, now); err != nil {
				return fmt.Errorf("postgres: migration %04d_%s: record: %w", m.Version, m.Name, err)
			}
			s.logger.LogAttrs(ctx, slog.LevelInfo, "applied migration", slog.Int("version", m.Version), slog.String("name", m.Name))
		}
		return nil
	})
}
