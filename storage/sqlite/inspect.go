package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/seal"
	"github.com/gatehouse-id/gatehouse/storage"
)

// SnapshotInfo describes a database file (a backup) as Inspect found it.
type SnapshotInfo struct {
	// SchemaVersion is the file's newest applied migration; BinaryVersion is this binary's.
	SchemaVersion, BinaryVersion int
	// KeyIDs counts the sealed values per seal key ID.
	KeyIDs map[string]int64
	// Plaintext counts secret values stored in clear (written before sealing was on).
	Plaintext int64
}

// Inspect checks a database file without changing it: it opens the file read-only and
// immutable, runs SQLite's full integrity check, reads the schema version and counts the
// seal key IDs (and clear values) of every sealed column. It is what restore checks a backup
// with before it replaces anything. A damaged or foreign file is an error.
func Inspect(ctx context.Context, path string) (SnapshotInfo, error) {
	info := SnapshotInfo{KeyIDs: map[string]int64{}}
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		return info, err
	}
	info.BinaryVersion = len(ms)
	u := url.URL{Scheme: "file", Opaque: url.PathEscape(path), RawQuery: "mode=ro&immutable=1"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return info, fmt.Errorf("sqlite: inspect %s: %w", path, err)
	}
	defer func() { _ = db.Close() }() //nolint:errcheck // a read-only handle: nothing to flush
	var problems []string
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check(10)`)
	if err != nil {
		return info, fmt.Errorf("sqlite: inspect %s: not a readable SQLite database: %w", path, err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			_ = rows.Close()
			return info, fmt.Errorf("sqlite: inspect %s: %w", path, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return info, fmt.Errorf("sqlite: inspect %s: integrity check: %w", path, err)
	}
	if len(problems) > 0 {
		return info, fmt.Errorf("sqlite: %s is damaged: %s", path, strings.Join(problems, "; "))
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&info.SchemaVersion); err != nil {
		return info, fmt.Errorf("sqlite: inspect %s: no Gatehouse schema: %w", path, err)
	}
	if info.SchemaVersion > 0 {
		for _, col := range storage.SealedColumns {
			if err := countSealed(ctx, db, col, &info); err != nil {
				return info, fmt.Errorf("sqlite: inspect %s: %w", path, err)
			}
		}
	}
	return info, nil
}

// countSealed adds col's values to info's key ID and clear counts.
func countSealed(ctx context.Context, db *sql.DB, col storage.SealedColumn, info *SnapshotInfo) error {
	var exists int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, col.Table).Scan(&exists); err != nil || exists == 0 {
		return err // an older schema without the table: nothing to count
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s IS NOT NULL`, col.Column, col.Table, col.Column))
	if err != nil {
		return fmt.Errorf("read %s: %w", col.Table, err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("read %s: %w", col.Table, err)
		}
		if col.AuthJSON {
			var a struct {
				ConnectorData []byte `json:"connector_data"`
			}
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("read %s.%s: %w", col.Table, col.Column, err)
			}
			v = a.ConnectorData
		}
		if len(v) == 0 {
			continue
		}
		if id, ok := seal.KeyID(v); ok {
			info.KeyIDs[id]++
		} else {
			info.Plaintext++
		}
	}
	return rows.Err()
}
