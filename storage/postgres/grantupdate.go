package postgres

import (
	"context"
	"fmt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.GrantUpdater = (*Store)(nil)

const qUpdateGrantIdentity = `UPDATE grants SET identity = $1, auth = $2, subject = $3 WHERE id = $4`

// UpdateGrantIdentity replaces a grant's identity and authentication (after an upstream
// refresh); storage.ErrNotFound if there is no such grant.
func (s *Store) UpdateGrantIdentity(ctx context.Context, grantID string, id storage.Identity, auth storage.Authentication) error {
	enc, err := encodeIdentityAuth(s.sealer, storage.SealContext("grants", "auth", grantID), id, auth)
	if err != nil {
		return fmt.Errorf("postgres: update grant identity: %w", err)
	}
	tag, err := s.pool.Exec(ctx, qUpdateGrantIdentity, enc.identity, enc.auth, id.Subject, grantID)
	return mustAffect("update grant identity", tag, err)
}
