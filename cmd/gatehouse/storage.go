package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/postgres"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// openStorage opens the configured backend.
func openStorage(ctx context.Context, cfg config.Storage, logger *slog.Logger) (storage.Storage, error) {
	switch cfg.Type {
	case "sqlite", "":
		return sqlite.Open(ctx, cfg.Config.File, logger)
	case "postgres":
		return postgres.Open(ctx, postgresConfig(cfg.Config), logger)
	}
	return nil, fmt.Errorf("storage type %q is not supported by this build", cfg.Type)
}

// postgresConfig maps the storage block to the postgres backend's Config: dsn, or the
// discrete fields host/port/database/user/password/ssl_mode/ssl_root_cert; max_conns.
func postgresConfig(c config.StorageConfig) postgres.Config {
	return postgres.Config{
		DSN: c.DSN, Host: c.Host, Port: c.Port, Database: c.Database, User: c.User, Password: c.Password,
		SSLMode: c.SSLMode, SSLRootCert: c.SSLRootCert, MaxConns: c.MaxConns,
	}
}

// closeStore closes a store opened by a command and reports a failure (a SQLite file that
// could not be checkpointed, say) instead of dropping it.
func closeStore(store io.Closer, stderr io.Writer) {
	if err := store.Close(); err != nil {
		fmt.Fprintf(stderr, "gatehouse: close storage: %v\n", err)
	}
}
