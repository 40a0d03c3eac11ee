package storage

import (
	"context"
	"time"
)

// Client is an OAuth client registered at runtime (through the admin API). Clients from the
// configuration are not stored: they overlay the stored ones, read-only.
type Client struct {
	ID   string
	Name string
	// SecretHash is the hex SHA-256 of the client secret (generated, high-entropy), compared in
	// constant time; "" for a public client. The secret itself is never stored.
	SecretHash             string
	Public                 bool
	Trusted                bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	AllowedConnectors      []string
	AllowedOrigins         []string
	GrantTypes             []string
	Scopes                 []string
	Audiences              []string
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

// ClientStore keeps runtime clients. It is optional; the SQLite and PostgreSQL backends
// implement it (storagetest.RunClients).
type ClientStore interface {
	// CreateClient stores c; an ID already stored is ErrAlreadyExists.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client; ErrNotFound when there is none.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every stored client, ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient replaces every field of the stored client c.ID but CreatedAt (the secret
	// hash included: rotation is an update); ErrNotFound when there is none.
	UpdateClient(ctx context.Context, c Client) error
	// DeleteClient deletes the client and, in the same transaction, everything issued to it:
	// its grants are revoked at now and their refresh tokens deleted (so its access and
	// refresh tokens stop working), its authorization codes and consents deleted.
	// ErrNotFound when there is none.
	DeleteClient(ctx context.Context, id string, now time.Time) error
}
