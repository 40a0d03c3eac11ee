package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.Seeder = (*Store)(nil)

// Seed inserts the batch in one transaction, its statements sent as one pipelined batch
// (one round trip for the whole batch).
func (s *Store) Seed(ctx context.Context, b storage.SeedBatch) error {
	var batch pgx.Batch
	for _, u := range b.Users {
		args, err := localUserArgs(u)
		if err != nil {
			return err
		}
		batch.Queue(qInsertUser, args...)
	}
	for _, sess := range b.Sessions {
		args, err := s.sessionArgs(sess)
		if err != nil {
			return err
		}
		batch.Queue(qInsertSession, args...)
	}
	for _, g := range b.Grants {
		args, err := s.grantArgs(g)
		if err != nil {
			return err
		}
		batch.Queue(qInsertGrant, args...)
	}
	for _, rt := range b.RefreshTokens {
		batch.Queue(qInsertRefresh, refreshArgs(rt)...)
	}
	for _, c := range b.Consents {
		args, err := consentArgs(c)
		if err != nil {
			return err
		}
		batch.Queue(qPutConsent, args...)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		res := tx.SendBatch(ctx, &batch)
		for range batch.Len() {
			if _, err := res.Exec(); err != nil {
				_ = res.Close() //nolint:errcheck // the statement's error is the one reported
				return insertErr("seed", err)
			}
		}
		return insertErr("seed", res.Close())
	})
}
