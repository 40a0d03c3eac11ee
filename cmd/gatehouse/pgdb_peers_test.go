//go:build peers

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// tempPostgresDatabase creates a database of its own (prefix plus random letters) on the
// shared test PostgreSQL, drops it when the test ends, and returns its URL. The test fails
// when the peer is missing.
func tempPostgresDatabase(t *testing.T, prefix string) *url.URL {
	t.Helper()
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Fatal("GATEHOUSE_TEST_POSTGRES_DSN is not set: run scripts/test-all.sh, or `source scripts/peers/postgres.sh && start_test_postgres`")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	var rb [6]byte
	_, _ = rand.Read(rb[:]) //nolint:errcheck // crypto/rand.Read never fails
	name := prefix + hex.EncodeToString(rb[:])
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		_ = admin.Close(ctx) //nolint:errcheck // the test is over
	})
	db := *u
	db.Path = "/" + name
	return &db
}
