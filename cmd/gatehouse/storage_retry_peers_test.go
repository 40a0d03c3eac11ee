//go:build peers

package main

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
)

// TestPostgresWrongPasswordFailsAtOnce: bad credentials or a wrong database name is not retried
// until connect_timeout (a minute by default, during which the pod looks merely slow): serve
// fails at once and says why, against the real test PostgreSQL.
func TestPostgresWrongPasswordFailsAtOnce(t *testing.T) {
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Fatal("GATEHOUSE_TEST_POSTGRES_DSN is not set: run scripts/test-all.sh, or `source scripts/peers/postgres.sh && start_test_postgres`")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	// The test server trusts local connections (no password is checked), so an unknown role
	// stands for bad credentials (SQLSTATE 28000, the class of 28P01 wrong password).
	unknownRole := *u
	unknownRole.User = url.UserPassword("no_such_role_here", "x")
	noDatabase := *u
	noDatabase.Path = "/no_such_database_here"
	for name, bad := range map[string]string{"unknown role": unknownRole.String(), "no database": noDatabase.String()} {
		t.Run(name, func(t *testing.T) {
			cfg := config.Storage{Type: "postgres", Config: config.StorageConfig{DSN: bad, ConnectTimeout: config.Duration(30 * time.Second)}}
			start := time.Now()
			_, err := openStorageRetrying(context.Background(), cfg, nil, slog.New(slog.DiscardHandler), &listeners{})
			if err == nil || !strings.Contains(err.Error(), "not retried") {
				t.Fatalf("err = %v; want a permanent error, not retried", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %s; a permanent error must not wait for connect_timeout", d)
			}
		})
	}
}
