package storage

import "context"

// AuthRequestSweeper is implemented by backends that can delete the auth requests of one
// browser or one SSO session at once. Logout calls it so that nothing the ended session (or
// the browser's flow) left pending can still be finished. It is optional: without it, the
// broker still refuses to finish a request whose session is gone, and the requests expire.
// The SQLite and PostgreSQL backends implement it (storagetest.RunAuthRequestSweep).
type AuthRequestSweeper interface {
	// DeleteAuthRequestsOf deletes every auth request whose FlowHash is flowHash or whose
	// SessionID is sessionID, and returns how many. An empty argument matches nothing.
	DeleteAuthRequestsOf(ctx context.Context, flowHash, sessionID string) (int64, error)
}
