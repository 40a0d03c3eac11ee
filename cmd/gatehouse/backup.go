package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

const backupUsage = `Usage: gatehouse backup [--config FILE] --to DEST

Writes a consistent snapshot of the SQLite store to DEST while Gatehouse keeps running.
The snapshot stays sealed (secrets.keys); it does not hold the seal keys: back them up separately.
Restore: stop Gatehouse, gatehouse restore [--config FILE] --from DEST, start Gatehouse.
PostgreSQL stores are backed up with pg_dump (pg_dump -Fc DBNAME > gatehouse.dump;
restore with pg_restore -d DBNAME gatehouse.dump).`

// cmdBackup implements `gatehouse backup --config FILE --to DEST`: a consistent online
// snapshot of the SQLite store (VACUUM INTO; the server may keep running and writing),
// written 0600. The snapshot is itself a SQLite database and stays sealed: it holds the
// sealed values as they are, never the seal keys (back those up separately). Restore with
// `gatehouse restore`. PostgreSQL deployments back up with the database's own tools
// (pg_dump, or base backups with WAL archiving); this command says so.
func cmdBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("backup", flag.ContinueOnError)
	cfgPath := flags.String("config", "", "configuration file (YAML); none: the built-in default (SQLite in the working directory)")
	to := flags.String("to", "", "file to write the snapshot to (must not exist)")
	if err := parseFlags(ctx, flags, args, backupUsage, stdout, stderr); err != nil {
		return err
	}
	if flags.NArg() > 0 || *to == "" {
		printUsage(stderr, flags, backupUsage)
		return exitError{"usage"}
	}
	cfg, err := storageConfig(*cfgPath, getenv, stderr)
	if err != nil {
		return err
	}
	switch cfg.Storage.Type {
	case "sqlite", "":
	case "postgres":
		fmt.Fprintln(stderr, "gatehouse backup: this store is PostgreSQL: back it up with the database's own tools, e.g.")
		fmt.Fprintln(stderr, "  pg_dump --format=custom --file=gatehouse.dump \"$GATEHOUSE_DB_DSN\"")
		fmt.Fprintln(stderr, "and restore into an empty database with")
		fmt.Fprintln(stderr, "  pg_restore --dbname=\"$GATEHOUSE_DB_DSN\" gatehouse.dump")
		fmt.Fprintln(stderr, "(for point-in-time recovery use base backups with WAL archiving).")
		return exitError{"postgres backup"}
	default:
		return fmt.Errorf("backup: storage type %q is not supported", cfg.Storage.Type)
	}
	file := cfg.Storage.Config.File
	if _, err := os.Stat(file); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup: no database at %s (is storage.config.file right?)", file)
		}
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Stat(*to); err == nil {
		return fmt.Errorf("backup: %s already exists; choose a new file", *to)
	}
	logger := newLogger(cfg.Logging, stderr)
	store, err := sqlite.Open(ctx, file, logger)
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", file, err)
	}
	defer closeStore(store, stderr)
	if err := store.Backup(ctx, *to); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", file, *to)
	info, err := sqlite.Inspect(ctx, *to)
	if err != nil {
		return fmt.Errorf("backup: check %s: %w", *to, err)
	}
	if info.Plaintext > 0 {
		fmt.Fprintf(stderr, "gatehouse backup: warning: %d secret values in %s are not sealed: configure secrets.keys "+
			"and start Gatehouse (or run gatehouse secrets rotate) to seal them (docs/production.md)\n", info.Plaintext, *to)
	}
	return nil
}
