package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestPermanentStorageError: errors waiting cannot fix end the start at once; the ones a
// database that is still coming up gives are retried.
func TestPermanentStorageError(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("open storage: postgres: %w", err) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"wrong password", wrap(&pgconn.PgError{Code: "28P01"}), true},
		{"no such database", wrap(&pgconn.PgError{Code: "3D000"}), true},
		{"no privilege", wrap(&pgconn.PgError{Code: "42501"}), true},
		{"schema too new", wrap(storage.ErrSchemaTooNew), true},
		{"sealed without keys", wrap(storage.ErrNoSealKeys), true},
		{"starting up", wrap(&pgconn.PgError{Code: "57P03"}), false},
		{"too many connections", wrap(&pgconn.PgError{Code: "53300"}), false},
		{"connection refused", wrap(errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")), false},
	}
	for _, tt := range tests {
		if got := permanentStorageError(tt.err); got != tt.want {
			t.Errorf("%s: permanent = %v, want %v", tt.name, got, tt.want)
		}
	}
}
