package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// openStorage opens the configured backend.
func openStorage(ctx context.Context, cfg config.Storage, logger *slog.Logger) (storage.Storage, error) {
	switch cfg.Type {
	case "sqlite", "":
		return sqlite.Open(ctx, cfg.Config.File, logger)
	}
	return nil, fmt.Errorf("storage type %q is not supported by this build", cfg.Type)
}
