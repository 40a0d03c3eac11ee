package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
	"github.com/gatehouse-id/gatehouse/internal/loadgen"
	"github.com/gatehouse-id/gatehouse/storage"
)

const loadtestSeedUsage = `Usage: gatehouse loadtest seed [--config FILE] --users N [flags]

Fills the configured store (SQLite or PostgreSQL) with N realistic users for measuring how
the hot paths scale with stored data: each user gets a local account (one bcrypt hash of
--password shared by all), an SSO session, a refresh family (a grant with
--tokens-per-family tokens, all but the last rotated) and a consent for --client-id. Rows
are written in batched transactions (--batch users each, --workers at once). Usernames are
seed-user-NNNNNNNN from --start; seeding the same range twice fails (keys exist).
--expired-every K makes every K-th user's session, grant and tokens already expired (1:
all), to measure a garbage collection. Never point it at a production store.

Example:
  gatehouse loadtest seed --config gatehouse.yaml --users 1000000
`

// cmdLoadtestSeed implements `gatehouse loadtest seed`.
func cmdLoadtestSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest seed", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (YAML); none: the built-in default (SQLite in the working directory)")
	var o loadgen.SeedOptions
	fs.IntVar(&o.Users, "users", 0, "how many users to write (required)")
	fs.IntVar(&o.Start, "start", 0, "number of the first user")
	fs.IntVar(&o.TokensPerFamily, "tokens-per-family", 3, "refresh tokens per family (all but the last already used)")
	fs.StringVar(&o.ClientID, "client-id", "seed-client", "client named by the grants and consents")
	fs.IntVar(&o.ExpiredEvery, "expired-every", 0, "every K-th user's session, grant and tokens are expired (0: none)")
	fs.IntVar(&o.Batch, "batch", 1000, "users per transaction")
	fs.IntVar(&o.Workers, "workers", 0, "transactions at once (0: 1 on SQLite, 4 on PostgreSQL)")
	password := fs.String("password", "seed-password", "every seeded user's password")
	cost := fs.Int("cost", local.DefaultCost, "bcrypt cost of the password hash")
	verbose := fs.Bool("v", false, "print progress to stderr")
	if err := parseFlags(ctx, fs, args, loadtestSeedUsage, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 || o.Users < 1 || o.TokensPerFamily < 1 || o.Batch < 1 || o.Workers < 0 || o.Start < 0 || o.ExpiredEvery < 0 {
		fmt.Fprintln(stderr, "gatehouse loadtest seed: give --users N >= 1; --tokens-per-family and --batch >= 1; --workers, --start and --expired-every >= 0")
		printUsage(stderr, fs, loadtestSeedUsage)
		return exitError{"usage"}
	}
	cfg, err := storageConfig(*cfgPath, getenv, stderr)
	if err != nil {
		return err
	}
	if o.Workers == 0 {
		o.Workers = 1
		if cfg.Storage.Type == "postgres" {
			o.Workers = 4
		}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(*password), *cost)
	if err != nil {
		return fmt.Errorf("hash the password: %w", err)
	}
	o.PasswordHash, o.Now = string(hash), time.Now().UTC()
	logger := newLogger(config.Logging{Level: "warn"}, stderr)
	keys, err := loadKeyring(cfg, *cfgPath == "", false, logger)
	if err != nil {
		return err
	}
	store, err := assembly.OpenSealedStorage(ctx, cfg.Storage, sealer(keys), logger)
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	defer closeStore(store, stderr)
	sd, ok := store.(storage.Seeder)
	if !ok {
		return fmt.Errorf("the %s storage backend cannot be seeded", cfg.Storage.Type)
	}
	var progress func(int)
	if *verbose {
		last := time.Now()
		progress = func(n int) {
			if time.Since(last) > 5*time.Second || n == o.Users {
				last = time.Now()
				fmt.Fprintf(stderr, "seeded %d of %d users\n", n, o.Users)
			}
		}
	}
	res, err := loadgen.Seed(ctx, sd, o, progress)
	fmt.Fprintf(stdout, "seeded %d users, %d sessions, %d grants, %d refresh tokens, %d consents in %s (%.0f rows/s)\n",
		res.Users, res.Sessions, res.Grants, res.RefreshTokens, res.Consents, res.Elapsed.Round(time.Millisecond),
		float64(res.Users*4+res.RefreshTokens)/res.Elapsed.Seconds())
	return err
}
