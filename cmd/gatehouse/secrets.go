package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
	"github.com/gatehouse-id/gatehouse/internal/seal"
	"github.com/gatehouse-id/gatehouse/storage"
)

// defaultSealKeyFile is where the built-in default (no --config) keeps its seal key: beside
// its SQLite database, created 0600 on first start.
func defaultSealKeyFile(dbFile string) string { return dbFile + ".seal-key" }

// loadKeyring builds the seal keyring of cfg.Secrets.Keys (the first seals). Without keys,
// in the built-in default (defaultMode) it uses the key file beside the SQLite database,
// generating it when create is set and it does not exist yet; otherwise it returns nil:
// secrets are stored in clear (cfg.Warnings says so).
func loadKeyring(cfg *config.Config, defaultMode, create bool, logger *slog.Logger) (*seal.Keyring, error) {
	if len(cfg.Secrets.Keys) > 0 {
		var keys []seal.Key
		for _, k := range cfg.Secrets.Keys {
			secret, err := readSealKey(k.File)
			if err != nil {
				return nil, fmt.Errorf("secrets.keys: key %q: %s: %w", k.ID, k.File, err)
			}
			keys = append(keys, seal.Key{ID: k.ID, Secret: secret})
		}
		return seal.NewKeyring(keys...)
	}
	if !defaultMode || (cfg.Storage.Type != "" && cfg.Storage.Type != "sqlite") {
		return nil, nil
	}
	path := defaultSealKeyFile(cfg.Storage.Config.File)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, nil
		}
		if err := seal.NewKeyFile(path); err != nil {
			return nil, err
		}
		logger.Info("generated a seal key for secrets at rest: keep it with the database and back it up separately; "+
			"production configurations name their keys under secrets.keys (docs/production.md)", "file", path)
	}
	secret, err := readSealKey(path)
	if err != nil {
		return nil, fmt.Errorf("seal key %s: %w", path, err)
	}
	return seal.NewKeyring(seal.Key{ID: autoKeyID(secret), Secret: secret})
}

// autoKeyID names a generated key by its fingerprint, so a database sealed under a lost key
// file says which key it needs.
func autoKeyID(secret []byte) string {
	sum := sha256.Sum256(secret)
	return "auto-" + hex.EncodeToString(sum[:4])
}

// readSealKey reads a seal key file (config.ParseSealKey).
func readSealKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return config.ParseSealKey(b)
}

// sealer is k as a storage.Sealer: nil (not a nil *Keyring in an interface) when k is nil.
func sealer(k *seal.Keyring) storage.Sealer {
	if k == nil {
		return nil
	}
	return k
}

// resealBatch is how many rows Reseal reads per batch.
const resealBatch = 500

// sealAtStart seals what is still in clear (the first start with sealing on) and reseals
// what an older key sealed, while the store already serves; each row is rewritten on its own,
// so a crash midway leaves every row readable, and the next start continues.
func sealAtStart(ctx context.Context, store storage.Storage, logger *slog.Logger) error {
	rs, ok := store.(storage.Resealer)
	if !ok {
		return nil
	}
	start := time.Now()
	res, err := rs.Reseal(ctx, resealBatch)
	if err != nil {
		return fmt.Errorf("seal secrets at rest: %w", err)
	}
	if res.Resealed > 0 {
		logger.InfoContext(ctx, "sealed secrets at rest under the current seal key", "rows", res.Resealed,
			"checked", res.Checked, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}

// openSealedStore is serve's storage: it warns about what the configuration leaves in clear,
// loads the seal keys (generating the built-in default's), opens the store sealed under them
// (retrying an unreachable PostgreSQL, see openStorageRetrying), and seals what is still in
// clear or under an older key before anything is served.
func openSealedStore(ctx context.Context, cfg *config.Config, defaultMode bool, logger *slog.Logger, l *listeners) (storage.Storage, error) {
	if !defaultMode {
		for _, w := range cfg.Warnings() {
			logger.WarnContext(ctx, w)
		}
	}
	keys, err := loadKeyring(cfg, defaultMode, true, logger)
	if err != nil {
		return nil, err
	}
	store, err := openStorageRetrying(ctx, cfg.Storage, sealer(keys), logger, l)
	if err != nil || keys == nil {
		return store, err
	}
	if err := sealAtStart(ctx, store, logger); err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return store, nil
}

const secretsRotateUsage = `Usage: gatehouse secrets rotate [--config FILE] [--batch N]

Reseals every secret at rest under the first key of secrets.keys, online (Gatehouse may keep
running).`

const secretsNewKeyUsage = `Usage: gatehouse secrets new-key FILE

Writes a new random seal key to FILE (32 random bytes, base64, mode 0600); FILE must not exist.`

// cmdSecretsNewKey implements `gatehouse secrets new-key FILE`.
func cmdSecretsNewKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("secrets new-key", flag.ContinueOnError)
	if err := parseFlags(ctx, flags, args, secretsNewKeyUsage, stdout, stderr); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		printUsage(stderr, flags, secretsNewKeyUsage)
		return exitError{"usage"}
	}
	if err := seal.NewKeyFile(flags.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a new seal key to %s\n", flags.Arg(0))
	return nil
}

// cmdSecrets implements `gatehouse secrets rotate` and `gatehouse secrets new-key`.
func cmdSecrets(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if handled, err := subcommandHelp("secrets", args, []string{"rotate", "new-key"}, stdout, stderr); handled {
		return err
	}
	if args[0] == "new-key" {
		return cmdSecretsNewKey(ctx, args[1:], stdout, stderr)
	}
	flags := flag.NewFlagSet("secrets rotate", flag.ContinueOnError)
	cfgPath := flags.String("config", "", "configuration file (YAML); none: the built-in default")
	batch := flags.Int("batch", resealBatch, "rows per batch")
	if err := parseFlags(ctx, flags, args[1:], secretsRotateUsage, stdout, stderr); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		printUsage(stderr, flags, secretsRotateUsage)
		return exitError{"usage"}
	}
	cfg, err := storageConfig(*cfgPath, getenv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(config.Logging{Level: "warn"}, stderr)
	keys, err := loadKeyring(cfg, *cfgPath == "", false, logger)
	if err != nil {
		return err
	}
	if keys == nil {
		return errors.New("secrets rotate: no seal keys: configure secrets.keys (docs/production.md)")
	}
	store, err := assembly.OpenSealedStorage(ctx, cfg.Storage, sealer(keys), logger)
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	defer closeStore(store, stderr)
	rs, ok := store.(storage.Resealer)
	if !ok {
		return fmt.Errorf("the %s storage backend does not seal", cfg.Storage.Type)
	}
	res, err := rs.Reseal(ctx, *batch)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "resealed %d of %d secret values under key %q (%d changed concurrently and were left to their writer)\n",
		res.Resealed, res.Checked, keys.Primary(), res.Skipped)
	return nil
}
