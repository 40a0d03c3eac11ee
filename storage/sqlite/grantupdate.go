package sqlite

import (
	"context"
	"fmt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.GrantUpdater = (*Store)(nil)

const qUpdateGrantIdentity = `UPDATE grants SET identity = ?, auth = ?, subject = ? WHERE id = ?`

// UpdateGrantIdentity replaces a grant's identity and authentication (after an upstream refresh).
func (s *Store) UpdateGrantIdentity(ctx context.Context, grantID string, id storage.Identity, auth storage.Authentication) error {
	enc, err := encodeIdentityAuth(s.sealer, storage.SealContext("grants", "auth", grantID), id, auth)
	if err != nil {
		return fmt.Errorf("sqlite: update grant identity: %w", err)
	}
	res, err := s.exec(ctx, qUpdateGrantIdentity, enc.identity, enc.auth, id.Subject, grantID)
	if err != nil {
		return fmt.Errorf("sqlite: update grant identity: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("sqlite: update grant identity: %w", storage.ErrNotFound)
	}
	return nil
}
