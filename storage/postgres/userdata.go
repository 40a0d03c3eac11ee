package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.UserRemover = (*Store)(nil)

// qDeleteUserData deletes what is stored under an internal user ID, in this order (refresh
// tokens before their grants, TOTP steps before their factors). Records that keep the
// identity as JSON text are matched on its "sub".
var qDeleteUserData = []string{
	`DELETE FROM sessions WHERE (identity::jsonb)->>'sub' = $1`,
	`DELETE FROM auth_requests WHERE (identity::jsonb)->>'sub' = $1`,
	`DELETE FROM auth_codes WHERE (identity::jsonb)->>'sub' = $1`,
	`DELETE FROM refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE subject = $1)`,
	`DELETE FROM grants WHERE subject = $1`,
	`DELETE FROM consents WHERE subject = $1`,
	`DELETE FROM user_links WHERE user_id = $1`,
	qMFADeleteSteps, qMFADeleteFactors, qMFADeleteCodes, qMFADeleteEnrolment,
}

// DeleteUserData deletes the user's sessions, auth requests, codes, grants, consents, links
// and MFA enrolment in one transaction.
func (s *Store) DeleteUserData(ctx context.Context, userID string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		for _, q := range qDeleteUserData {
			if _, err := tx.Exec(ctx, q, userID); err != nil {
				return fmt.Errorf("postgres: delete user data: %w", err)
			}
		}
		return nil
	})
}
