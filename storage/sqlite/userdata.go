package sqlite

import (
	"context"
	"fmt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.UserRemover = (*Store)(nil)

// qDeleteUserData deletes what is stored under an internal user ID, in this order (refresh
// tokens before their grants, TOTP steps before their factors). The statements run
// unprepared: removing a user is rare. Records that keep the identity as JSON are matched on
// its "sub".
var qDeleteUserData = []string{
	`DELETE FROM sessions WHERE json_extract(identity, '$.sub') = ?`,
	`DELETE FROM auth_requests WHERE json_extract(identity, '$.sub') = ?`,
	`DELETE FROM auth_codes WHERE json_extract(identity, '$.sub') = ?`,
	`DELETE FROM refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE subject = ?)`,
	`DELETE FROM grants WHERE subject = ?`,
	`DELETE FROM consents WHERE subject = ?`,
	`DELETE FROM user_links WHERE user_id = ?`,
	qMFADeleteSteps, qMFADeleteFactors, qMFADeleteCodes, qMFADeleteEnrolment,
}

// DeleteUserData deletes the user's sessions, auth requests, codes, grants, consents, links
// and MFA enrolment in one transaction.
func (s *Store) DeleteUserData(ctx context.Context, userID string) error {
	return s.inTx(ctx, func(t *txn) error {
		for _, q := range qDeleteUserData {
			if _, err := t.tx.ExecContext(ctx, q, userID); err != nil {
				return fmt.Errorf("sqlite: delete user data: %w", err)
			}
		}
		return nil
	})
}
