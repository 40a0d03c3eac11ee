package sqlite

import (
	"context"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.Seeder = (*Store)(nil)

// Seed inserts the batch in one transaction through the prepared insert statements.
func (s *Store) Seed(ctx context.Context, b storage.SeedBatch) error {
	return s.inTx(ctx, func(t *txn) error {
		ins := func(what, q string, args []any, err error) error {
			if err != nil {
				return err
			}
			_, err = t.exec(ctx, q, args...)
			return insertErr(what, err)
		}
		for _, u := range b.Users {
			args, err := localUserArgs(u)
			if err := ins("seed local user", qInsertUser, args, err); err != nil {
				return err
			}
		}
		for _, sess := range b.Sessions {
			args, err := s.sessionArgs(sess)
			if err := ins("seed session", qInsertSession, args, err); err != nil {
				return err
			}
		}
		for _, g := range b.Grants {
			args, err := s.grantArgs(g)
			if err := ins("seed grant", qInsertGrant, args, err); err != nil {
				return err
			}
		}
		for _, rt := range b.RefreshTokens {
			if err := ins("seed refresh token", qInsertRefresh, refreshArgs(rt), nil); err != nil {
				return err
			}
		}
		for _, c := range b.Consents {
			args, err := consentArgs(c)
			if err := ins("seed consent", qPutConsent, args, err); err != nil {
				return err
			}
		}
		return nil
	})
}
