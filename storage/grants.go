package storage

import (
	"context"
	"time"
)

// GrantUpdater is implemented by backends that can refresh what a grant remembers about its
// user. The token endpoint calls it after a refresh went back to the upstream: the connector
// may have rotated its own upstream refresh token (kept in Auth.ConnectorData), and userinfo
// must answer with the refreshed identity (groups added or removed upstream).
type GrantUpdater interface {
	// UpdateGrantIdentity replaces the grant's Identity and Auth. ErrNotFound when the grant
	// does not exist.
	UpdateGrantIdentity(ctx context.Context, grantID string, id Identity, auth Authentication) error
}

// RefreshReissuer is implemented by backends that let a client recover from a token response
// lost in flight (the replica died or the connection dropped after the rotation committed):
// the client retries with the previous refresh token, which is now used. Both backends
// implement it; the token endpoint allows the retry within expiry.refresh_tokens.reuse_grace.
type RefreshReissuer interface {
	// ReissueRefreshToken atomically replaces the successor of a rotated token: oldHash must
	// have been rotated (used) at most grace before now, and the token it was rotated to must
	// never have been used. That successor is then marked used (presenting it later is reuse),
	// and next is stored in the same grant as oldHash's new successor. It returns the grant
	// and the old token. Errors:
	//   ErrNotFound  the token does not exist, was superseded, or its grant is revoked or past
	//                its absolute expiry;
	//   ErrReused    the token was rotated more than grace ago, or its successor was used
	//                (the caller revokes the family); nothing is stored;
	//   ErrConflict  the token was never rotated (use RotateRefreshToken).
	// Concurrent calls (and a concurrent rotation of the successor) serialize: afterwards the
	// grant has exactly one unused refresh token.
	ReissueRefreshToken(ctx context.Context, oldHash string, next RefreshToken, grace time.Duration, now time.Time) (Grant, RefreshToken, error)
	// RefreshTokenSuperseded reports whether the token was revoked without ever being used,
	// because a retry of its predecessor replaced it (ReissueRefreshToken). Presenting such a
	// token is refused, but it is not reuse: nobody redeemed it, so its family stays.
	// ErrNotFound when the token does not exist.
	RefreshTokenSuperseded(ctx context.Context, hash string) (bool, error)
}
