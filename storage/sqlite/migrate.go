package sqlite

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

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
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return ms, nil
}

// migrate applies every pending embedded migration in one BEGIN IMMEDIATE transaction, so
// concurrent Opens on one file apply each migration exactly once.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	return s.applyMigrations(ctx, ms)
}

func (s *Store) applyMigrations(ctx context.Context, ms []migration) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("sqlite: migrate: read version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary's (%d): %w", current, len(ms), storage.ErrSchemaTooNew)
	}
	now := time.Now().UnixMilli()
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqlite: migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`, m.Version, m.Name, now); err != nil {
			return fmt.Errorf("sqlite: migration %04d_%s: record: %w", m.Version, m.Name, err)
		}
		s.logger.LogAttrs(ctx, slog.LevelInfo, "applied migration", slog.Int("version", m.Version), slog.String("name", m.Name))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: commit: %w", err)
	}
	return nil
}
