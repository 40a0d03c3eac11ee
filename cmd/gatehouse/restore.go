package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

const restoreUsage = `Usage: gatehouse restore [--config FILE] --from BACKUP

Stop Gatehouse first. Checks BACKUP (integrity, schema version, seal keys) before replacing
storage.config.file; the replaced database is kept as FILE.before-restore-<time>.`

// cmdRestore implements `gatehouse restore [--config FILE] --from BACKUP`: it checks the
// backup first (SQLite integrity, a schema this binary can run, a configured seal key for
// every key ID its sealed values use) and only then puts it in place of the SQLite database:
// the current database and its -wal/-shm files are kept beside it as
// FILE.before-restore-<time>, and the backup is copied to a temporary file (0600) that is
// renamed over FILE. Gatehouse must be stopped while it runs.
func cmdRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("restore", flag.ContinueOnError)
	cfgPath := flags.String("config", "", "configuration file (YAML); none: the built-in default (SQLite in the working directory)")
	from := flags.String("from", "", "backup file written by gatehouse backup")
	if err := parseFlags(ctx, flags, args, restoreUsage, stdout, stderr); err != nil {
		return err
	}
	if flags.NArg() > 0 || *from == "" {
		printUsage(stderr, flags, restoreUsage)
		return exitError{"usage"}
	}
	cfg, err := storageConfig(*cfgPath, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.Storage.Type != "" && cfg.Storage.Type != "sqlite" {
		return errors.New("restore: this store is PostgreSQL: restore it with pg_restore (see gatehouse backup --help)")
	}
	if err := checkBackup(ctx, cfg, *cfgPath == "", *from); err != nil {
		return fmt.Errorf("restore: %s: %w; nothing was changed", *from, err)
	}
	aside, err := replaceDatabase(cfg.Storage.Config.File, *from)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s from %s", cfg.Storage.Config.File, *from)
	if aside != "" {
		fmt.Fprintf(stdout, " (the previous database is kept as %s)", aside)
	}
	fmt.Fprintln(stdout)
	return nil
}

// checkBackup refuses a backup that is damaged, from a newer Gatehouse, or sealed under a key
// the configuration does not hold.
func checkBackup(ctx context.Context, cfg *config.Config, defaultMode bool, from string) error {
	fi, err := os.Stat(from)
	if err != nil {
		return err
	}
	if live, err := os.Stat(cfg.Storage.Config.File); err == nil && os.SameFile(fi, live) {
		return errors.New("is the live database itself")
	}
	info, err := sqlite.Inspect(ctx, from)
	if err != nil {
		return err
	}
	switch {
	case info.SchemaVersion == 0:
		return errors.New("holds no Gatehouse schema")
	case info.SchemaVersion > info.BinaryVersion:
		return fmt.Errorf("schema version %d is newer than this binary's (%d): restore with the Gatehouse version that wrote it", info.SchemaVersion, info.BinaryVersion)
	}
	keys, err := loadKeyring(cfg, defaultMode, false, nil)
	if err != nil {
		return err
	}
	var missing []string
	for id := range info.KeyIDs {
		if keys == nil || !keys.Has(id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("is sealed under seal key(s) %s that the configuration does not hold (secrets.keys)", strings.Join(missing, ", "))
	}
	return nil
}

// replaceDatabase moves the database at file (and its -wal, -shm and -journal files) aside
// and puts a copy of from in its place; it returns where the old database went ("" when
// there was none). The copy is written 0600 and synced before the rename.
func replaceDatabase(file, from string) (aside string, err error) {
	tmp := file + ".restoring"
	if err := copyPrivate(from, tmp); err != nil {
		return "", err
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	if _, err := os.Stat(file); err == nil {
		aside = file + ".before-restore-" + stamp
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		err := os.Rename(file+suffix, file+".before-restore-"+stamp+suffix)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", errors.Join(fmt.Errorf("move %s aside: %w", file+suffix, err), os.Remove(tmp))
		}
	}
	if err := os.Rename(tmp, file); err != nil {
		return aside, fmt.Errorf("put %s in place: %w", tmp, err)
	}
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		_ = d.Sync()  //nolint:errcheck // best effort: make the rename durable
		_ = d.Close() //nolint:errcheck // read-only directory handle
	}
	return aside, nil
}

// copyPrivate copies from to a new file to (0600), synced.
func copyPrivate(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, cerr := io.Copy(dst, src)
	if err := errors.Join(cerr, dst.Sync(), dst.Close()); err != nil {
		return errors.Join(fmt.Errorf("copy %s: %w", from, err), os.Remove(to))
	}
	return nil
}
