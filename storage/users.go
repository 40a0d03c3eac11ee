package storage

import "context"

// UserRemover deletes an internal user with everything stored under its ID. It is optional;
// the SQLite and PostgreSQL backends implement it (storagetest.RunUserRemoval). cmd/gatehouse
// uses it to remove the users that left the configuration.
type UserRemover interface {
	// DeleteUserData deletes, in one transaction, what is stored under the internal user ID
	// userID (Identity.Subject): SSO sessions, authentication requests and unredeemed
	// authorization codes carrying the identity, grants with their refresh tokens (so every
	// access token of them stops being accepted), consents, the links of upstream accounts to
	// the user (so the ID is never given to anyone again) and the MFA enrolment. Deleting an
	// unknown user's data is not an error.
	DeleteUserData(ctx context.Context, userID string) error
}

// LocalUserEmailFinder finds local users by email address. It is optional; the SQLite and
// PostgreSQL backends implement it (storagetest.RunLocalUserEmails). The local connector's
// login_with: [email] uses it.
type LocalUserEmailFinder interface {
	// FindLocalUsersByEmail returns every local user whose email equals email, compared
	// case-insensitively, ordered by username: none is an empty result, not an error. More
	// than one is possible (emails are not unique); the caller decides what that means.
	FindLocalUsersByEmail(ctx context.Context, email string) ([]LocalUser, error)
}

// ConfigUserLister is implemented by backends that list the local users that came from the
// configuration (LocalUser.FromConfig) without reading every user: the start of the
// process reads them to remove those the configuration no longer lists.
type ConfigUserLister interface {
	// ListConfigLocalUsers lists the local users whose FromConfig is set, by username.
	ListConfigLocalUsers(ctx context.Context) ([]LocalUser, error)
}
