package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.RegistrationStore = (*Store)(nil)

const (
	qIATColumns = `id, token_hash, max_uses, uses, created_by, created_at, expires_at`
	qInsertIAT  = `INSERT INTO initial_access_tokens (` + qIATColumns + `) VALUES (?, ?, ?, 0, ?, ?, ?)`
	qGetIAT     = `SELECT ` + qIATColumns + ` FROM initial_access_tokens WHERE token_hash = ?`
	qListIAT    = `SELECT ` + qIATColumns + ` FROM initial_access_tokens ORDER BY id`
	qDeleteIAT  = `DELETE FROM initial_access_tokens WHERE id = ?`
	qUseIAT     = `UPDATE initial_access_tokens SET uses = uses + 1
		WHERE token_hash = ? AND uses < max_uses AND expires_at > ? RETURNING ` + qIATColumns
)

func scanIAT(row scanner) (storage.InitialAccessToken, error) {
	var (
		t                storage.InitialAccessToken
		created, expires int64
	)
	err := row.Scan(&t.ID, &t.TokenHash, &t.MaxUses, &t.Uses, &t.CreatedBy, &created, &expires)
	t.CreatedAt, t.ExpiresAt = fromMs(created), fromMs(expires)
	return t, err
}

// CreateInitialAccessToken stores a new initial access token.
func (s *Store) CreateInitialAccessToken(ctx context.Context, t storage.InitialAccessToken) error {
	_, err := s.exec(ctx, qInsertIAT, t.ID, t.TokenHash, t.MaxUses, t.CreatedBy, ms(t.CreatedAt), ms(t.ExpiresAt))
	return insertErr("create initial access token", err)
}

// GetInitialAccessToken returns the token with the hash.
func (s *Store) GetInitialAccessToken(ctx context.Context, tokenHash string) (storage.InitialAccessToken, error) {
	t, err := scanIAT(s.queryRow(ctx, qGetIAT, tokenHash))
	return t, getErr("get initial access token", err)
}

// UseInitialAccessToken counts one use in one UPDATE ... RETURNING (the writer serializes
// it); when no row was updated it tells an unknown token from a spent or expired one.
func (s *Store) UseInitialAccessToken(ctx context.Context, tokenHash string, now time.Time) (storage.InitialAccessToken, error) {
	t, err := scanIAT(s.writeRow(ctx, qUseIAT, tokenHash, ms(now)))
	err = getErr("use initial access token", err)
	if err == nil || !errors.Is(err, storage.ErrNotFound) {
		return t, err
	}
	if _, err := s.GetInitialAccessToken(ctx, tokenHash); err != nil {
		return storage.InitialAccessToken{}, err
	}
	return storage.InitialAccessToken{}, fmt.Errorf("sqlite: use initial access token: used up or expired: %w", storage.ErrReused)
}

// ListInitialAccessTokens returns every token by ID.
func (s *Store) ListInitialAccessTokens(ctx context.Context) ([]storage.InitialAccessToken, error) {
	rows, err := s.query(ctx, qListIAT)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list initial access tokens: %w", err)
	}
	defer rows.Close()
	var out []storage.InitialAccessToken
	for rows.Next() {
		t, err := scanIAT(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list initial access tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list initial access tokens: %w", err)
	}
	return out, nil
}

// DeleteInitialAccessToken deletes the token with the ID.
func (s *Store) DeleteInitialAccessToken(ctx context.Context, id string) error {
	res, err := s.exec(ctx, qDeleteIAT, id)
	return mustAffect("delete initial access token", res, err)
}
