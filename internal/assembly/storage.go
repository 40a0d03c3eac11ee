package assembly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/postgres"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// OpenStorage opens the configured backend (and runs its migrations), without sealing.
func OpenStorage(ctx context.Context, cfg config.Storage, logger *slog.Logger) (storage.Storage, error) {
	return OpenSealedStorage(ctx, cfg, nil, logger)
}

// OpenSealedStorage opens the configured backend sealing secrets at rest with sl
// (secrets.keys; nil: stored in clear).
func OpenSealedStorage(ctx context.Context, cfg config.Storage, sl storage.Sealer, logger *slog.Logger) (storage.Storage, error) {
	switch cfg.Type {
	case "sqlite", "":
		return sqlite.Open(ctx, cfg.Config.File, logger, sqlite.WithSealer(sl))
	case "postgres":
		return postgres.Open(ctx, postgresConfig(cfg.Config), logger, postgres.WithSealer(sl))
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

// ProvisionUsers upserts the config's local users into storage, marked as from the
// configuration.
func ProvisionUsers(ctx context.Context, store storage.LocalUserStore, users []config.User, rec audit.Recorder) error {
	now := time.Now().UTC()
	for _, u := range users {
		_, err := store.GetLocalUser(ctx, u.Username)
		added := errors.Is(err, storage.ErrNotFound)
		if err != nil && !added {
			return fmt.Errorf("provision user %s: %w", u.Username, err)
		}
		err = store.UpsertLocalUser(ctx, storage.LocalUser{
			Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name,
			Groups: u.Groups, PasswordHash: u.PasswordHash, FromConfig: true, CreatedAt: now, UpdatedAt: now,
		})
		if err != nil {
			return fmt.Errorf("provision user %s: %w", u.Username, err)
		}
		if added {
			rec.Record(ctx, audit.Event{Type: audit.UserAdded, Outcome: audit.OutcomeSuccess, User: u.Username, Detail: map[string]string{"by": "config"}})
		}
	}
	return nil
}

// gcInterval is how often expired rows are deleted.
const gcInterval = 5 * time.Minute

// every calls f every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// gc deletes expired rows: auth requests, codes, tokens, sessions, blobs, attempt budgets,
// device codes, and audit events older than retention.
func gc(ctx context.Context, store storage.Storage, retention time.Duration, logger *slog.Logger) {
	res, err := store.GC(ctx, time.Now().UTC())
	if err != nil {
		logger.WarnContext(ctx, "garbage collection failed", "err", err)
		return
	}
	logger.DebugContext(ctx, "garbage collection", "result", res)
	if bs, ok := store.(storage.BlobStore); ok {
		if _, err := bs.DeleteExpiredBlobs(ctx, time.Now().UTC()); err != nil {
			logger.WarnContext(ctx, "garbage collection of blobs failed", "err", err)
		}
	}
	if as, ok := store.(storage.AuditStore); ok && retention > 0 {
		if _, err := as.DeleteAuditEventsBefore(ctx, time.Now().UTC().Add(-retention)); err != nil {
			logger.WarnContext(ctx, "garbage collection of audit events failed", "err", err)
		}
	}
	if rl, ok := store.(storage.RateLimitStore); ok {
		if _, err := rl.DeleteExpiredAttempts(ctx, time.Now().UTC()); err != nil {
			logger.WarnContext(ctx, "garbage collection of attempt budgets failed", "err", err)
		}
	}
	if ls, ok := store.(storage.LogoutStore); ok {
		if _, err := ls.DeleteExpiredParticipants(ctx, time.Now().UTC()); err != nil {
			logger.WarnContext(ctx, "garbage collection of session participants failed", "err", err)
		}
	}
	if ds, ok := store.(storage.DeviceStore); ok {
		// Kept an hour past expiry, so that a late poll still gets expired_token.
		if _, err := ds.DeleteExpiredDeviceCodes(ctx, time.Now().UTC().Add(-time.Hour)); err != nil {
			logger.WarnContext(ctx, "garbage collection of device codes failed", "err", err)
		}
	}
}
