package storage

import "context"

// Seeder is implemented by backends that load many rows at once (`gatehouse loadtest seed`
// fills a store with realistic data to measure how the hot paths scale with it). A batch
// is written in one transaction: all of it or none.
type Seeder interface {
	// Seed inserts the batch's rows: users, sessions, grants, then refresh tokens (each
	// naming one of its grants or an existing one) and consents. A key that exists already
	// is ErrAlreadyExists and nothing of the batch is written.
	Seed(ctx context.Context, b SeedBatch) error
}

// SeedBatch is what one Seed call inserts.
type SeedBatch struct {
	Users         []LocalUser
	Sessions      []Session
	Grants        []Grant
	RefreshTokens []RefreshToken
	Consents      []Consent
}
