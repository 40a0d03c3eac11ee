package storage

import "context"

// EmailLinkStore is an optional extension of LinkStore for account linking by verified email
// (the claims pipeline's link_verified_email and deny_unknown policies). A backend that
// implements it records UserLink.Email and returns it from GetUserLink. Callers test for it
// with a type assertion; without it, only the create policy is available.
type EmailLinkStore interface {
	// CreateUserLink stores a new link; ErrAlreadyExists if the upstream account is already
	// linked. Email must be empty or a verified, lowercased address.
	CreateUserLink(ctx context.Context, l UserLink) error
	// FindUserByVerifiedEmail returns the user ID whose links recorded this verified email
	// (compared lowercased). ErrNotFound when none does; ErrConflict when links of more than
	// one user carry it (the caller must not guess).
	FindUserByVerifiedEmail(ctx context.Context, email string) (userID string, err error)
	// SetUserLinkEmail replaces the recorded verified email of an existing link ("" clears it),
	// so an address an upstream account no longer has verified stops matching. A missing
	// link is not an error.
	SetUserLinkEmail(ctx context.Context, connectorID, upstreamSubject, email string) error
}
