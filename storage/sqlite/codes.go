package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

const authCodeCols = `hash, client_id, redirect_uri, scopes, nonce, code_challenge,
	code_challenge_method, identity, auth, session_id, grant_id, created_at, expiry, consumed, dpop_jkt, resources, claims_request`

const (
	qInsertAuthCode = `INSERT INTO auth_codes (` + authCodeCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// qConsumeCode counts the consumption and returns the row; a count above 1 is a replay.
	// Expired codes (a zero expiry never expires) are left alone and not returned.
	qConsumeCode = `UPDATE auth_codes SET consumed = consumed + 1
	WHERE hash = ? AND (expiry = 0 OR expiry > ?) RETURNING ` + authCodeCols
)

// CreateAuthCode stores a new authorization code; storage.ErrAlreadyExists if the hash is taken.
func (s *Store) CreateAuthCode(ctx context.Context, c storage.AuthCode) error {
	scopes, err := stringsText(c.Scopes)
	if err != nil {
		return err
	}
	resources, err := stringsText(c.Resources)
	if err != nil {
		return err
	}
	claims, err := storage.EncodeRequestedClaims(c.RequestedClaims)
	if err != nil {
		return err
	}
	enc, err := encodeIdentityAuth(s.sealer, storage.SealContext("auth_codes", "auth", c.Hash), c.Identity, c.Auth)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, qInsertAuthCode, c.Hash, c.ClientID, c.RedirectURI, scopes, c.Nonce,
		c.CodeChallenge, c.CodeChallengeMethod, enc.identity, enc.auth, c.SessionID, c.GrantID,
		ms(c.CreatedAt), ms(c.Expiry), boolInt(c.Consumed), c.DPoPJKT, resources, claims)
	return insertErr("create auth code", err)
}

// ConsumeCode marks the code consumed and returns it, in one statement. A code consumed
// before is returned with storage.ErrReused; a missing or expired one is storage.ErrNotFound.
func (s *Store) ConsumeCode(ctx context.Context, hash string, now time.Time) (storage.AuthCode, error) {
	var (
		c                         storage.AuthCode
		scopes, idt, authT        []byte
		resources                 []byte
		claims                    string
		created, expiry, consumed int64
	)
	err := s.writeRow(ctx, qConsumeCode, hash, ms(now)).Scan(&c.Hash, &c.ClientID, &c.RedirectURI,
		&scopes, &c.Nonce, &c.CodeChallenge, &c.CodeChallengeMethod, &idt, &authT, &c.SessionID,
		&c.GrantID, &created, &expiry, &consumed, &c.DPoPJKT, &resources, &claims)
	if err != nil {
		return storage.AuthCode{}, getErr("consume code", err)
	}
	if c.Scopes, err = decodeStrings(scopes); err != nil {
		return storage.AuthCode{}, err
	}
	if c.Resources, err = decodeStrings(resources); err != nil {
		return storage.AuthCode{}, err
	}
	if c.RequestedClaims, err = storage.DecodeRequestedClaims(claims); err != nil {
		return storage.AuthCode{}, err
	}
	if err := decodeIdentityAuth(s.sealer, storage.SealContext("auth_codes", "auth", c.Hash), idt, authT, &c.Identity, &c.Auth); err != nil {
		return storage.AuthCode{}, err
	}
	c.CreatedAt, c.Expiry, c.Consumed = fromMs(created), fromMs(expiry), true
	if consumed > 1 {
		return c, fmt.Errorf("sqlite: consume code: %w", storage.ErrReused)
	}
	return c, nil
}
