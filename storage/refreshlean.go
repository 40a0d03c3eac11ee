package storage

import (
	"context"
	"time"
)

// RefreshHotPath is implemented by backends that serve the refresh grant's hot path in fewer
// round trips. It changes no guarantee of GrantStore: the token endpoint uses it when present
// and falls back to GetRefreshToken, GetGrant and RotateRefreshToken otherwise.
type RefreshHotPath interface {
	// GetRefreshTokenAndGrant returns a refresh token (used or not) and its grant (revoked or
	// not) read together in one consistent read. ErrNotFound when the token does not exist.
	GetRefreshTokenAndGrant(ctx context.Context, hash string) (RefreshToken, Grant, error)
	// RotateRefreshTokenOnly is RotateRefreshToken without reading the grant back: the same
	// atomic rotation, the same errors (ErrNotFound, ErrReused with the old token,
	// ErrAlreadyExists when next's hash is taken) and exactly one winner of N concurrent
	// rotations. It returns the old token.
	RotateRefreshTokenOnly(ctx context.Context, oldHash string, next RefreshToken, now time.Time) (RefreshToken, error)
}
