//go:build peers

package main

import (
	"testing"
)

// TestSecretsRotatePostgres: `gatehouse secrets rotate` on PostgreSQL, online and in batches
// (issue 23), on a database of its own on the shared test server.
func TestSecretsRotatePostgres(t *testing.T) {
	db := tempPostgresDatabase(t, "seal_")
	checkSecretsRotate(t, "storage: {type: postgres, config: {dsn: \""+db.String()+"\"}}\n")
}
