package postgres

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

const sessionCols = `id, identity, auth, created_at, last_used, idle_expiry, absolute_expiry`

const (
	qInsertSession = `INSERT INTO sessions (` + sessionCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	qGetSession    = `SELECT ` + sessionCols + ` FROM sessions WHERE id = $1`
	// qTouchSession caps the idle expiry at the absolute expiry (0 = none).
	qTouchSession = `UPDATE sessions SET last_used = $1,
	idle_expiry = CASE WHEN absolute_expiry <> 0 AND ($2::bigint = 0 OR $2::bigint > absolute_expiry) THEN absolute_expiry ELSE $2::bigint END
	WHERE id = $3`
	qDeleteSession = `DELETE FROM sessions WHERE id = $1`
)

// CreateSession stores a new session; storage.ErrAlreadyExists if the ID is taken.
func (s *Store) CreateSession(ctx context.Context, sess storage.Session) error {
	args, err := s.sessionArgs(sess)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, qInsertSession, args...)
	return insertErr("create session", err)
}

// sessionArgs returns qInsertSession's arguments: the session encoded and its auth sealed.
func (s *Store) sessionArgs(sess storage.Session) ([]any, error) {
	enc, err := encodeIdentityAuth(s.sealer, storage.SealContext("sessions", "auth", sess.ID), sess.Identity, sess.Auth)
	if err != nil {
		return nil, err
	}
	return []any{sess.ID, enc.identity, enc.auth, ms(sess.CreatedAt),
		ms(sess.LastUsed), ms(sess.IdleExpiry), ms(sess.AbsoluteExpiry)}, nil
}

// GetSession returns the session (expired or not: the caller compares with its clock).
func (s *Store) GetSession(ctx context.Context, id string) (storage.Session, error) {
	var (
		sess                              storage.Session
		idt, authT                        string
		created, lastUsed, idle, absolute int64
	)
	err := s.pool.QueryRow(ctx, qGetSession, id).Scan(&sess.ID, &idt, &authT, &created, &lastUsed, &idle, &absolute)
	if err != nil {
		return storage.Session{}, getErr("get session", err)
	}
	if err := decodeIdentityAuth(s.sealer, storage.SealContext("sessions", "auth", sess.ID), idt, authT, &sess.Identity, &sess.Auth); err != nil {
		return storage.Session{}, err
	}
	sess.CreatedAt, sess.LastUsed = fromMs(created), fromMs(lastUsed)
	sess.IdleExpiry, sess.AbsoluteExpiry = fromMs(idle), fromMs(absolute)
	return sess, nil
}

// TouchSession sets LastUsed and IdleExpiry, capping IdleExpiry at AbsoluteExpiry.
func (s *Store) TouchSession(ctx context.Context, id string, lastUsed, idleExpiry time.Time) error {
	tag, err := s.pool.Exec(ctx, qTouchSession, ms(lastUsed), ms(idleExpiry), id)
	return mustAffect("touch session", tag, err)
}

// DeleteSession deletes the session; storage.ErrNotFound if there is none.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, qDeleteSession, id)
	return mustAffect("delete session", tag, err)
}
