package storage

import "context"

// GrantUpdater is implemented by backends that can refresh what a grant remembers about its
// user. The token endpoint calls it after a refresh went back to the upstream: the connector
// may have rotated its own upstream refresh token (kept in Auth.ConnectorData), and userinfo
// must answer with the refreshed identity (groups added or removed upstream).
type GrantUpdater interface {
	// UpdateGrantIdentity replaces the grant's Identity and Auth. ErrNotFound when the grant
	// does not exist.
	UpdateGrantIdentity(ctx context.Context, grantID string, id Identity, auth Authentication) error
}
