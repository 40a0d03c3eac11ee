package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

// scanner is a pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

const authRequestCols = `id, flow_hash, client_id, redirect_uri, response_type, response_mode, scopes,
	state, nonce, code_challenge, code_challenge_method, prompt, max_age, login_hint, connector_id,
	acr_values, connector_state, logged_in, identity, auth, session_id, created_at, expiry,
	protocol, saml_request, mfa_progress, dpop_jkt, resources, claims_request, ui_locales`

const (
	qInsertAuthRequest = `INSERT INTO auth_requests (` + authRequestCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)`
	qGetAuthRequest       = `SELECT ` + authRequestCols + ` FROM auth_requests WHERE id = $1`
	qGetAuthRequestLocked = qGetAuthRequest + ` FOR UPDATE`
	qUpdateAuthRequest    = `UPDATE auth_requests SET flow_hash = $1, client_id = $2, redirect_uri = $3,
	response_type = $4, response_mode = $5, scopes = $6, state = $7, nonce = $8, code_challenge = $9,
	code_challenge_method = $10, prompt = $11, max_age = $12, login_hint = $13, connector_id = $14,
	acr_values = $15, connector_state = $16, logged_in = $17, identity = $18, auth = $19, session_id = $20,
	created_at = $21, expiry = $22, protocol = $23, saml_request = $24,
	mfa_progress = $25, dpop_jkt = $26, resources = $27, claims_request = $28, ui_locales = $29 WHERE id = $30`
	qDeleteAuthRequest = `DELETE FROM auth_requests WHERE id = $1`
)

// authRequestArgs encodes r as the column values after id, in authRequestCols order.
func authRequestArgs(sl storage.Sealer, r storage.AuthRequest) ([]any, error) {
	scopes, err := jsonText(r.Scopes)
	if err != nil {
		return nil, err
	}
	prompt, err := jsonText(r.Prompt)
	if err != nil {
		return nil, err
	}
	acr, err := jsonText(r.ACRValues)
	if err != nil {
		return nil, err
	}
	enc, err := encodeIdentityAuth(sl, storage.SealContext("auth_requests", "auth", r.ID), r.Identity, r.Auth)
	if err != nil {
		return nil, err
	}
	proto, err := encodeProtocol(r)
	if err != nil {
		return nil, err
	}
	state, err := storage.SealConnectorState(sl, r)
	if err != nil {
		return nil, err
	}
	resources, err := jsonText(r.Resources)
	if err != nil {
		return nil, err
	}
	claims, err := storage.EncodeRequestedClaims(r.RequestedClaims)
	if err != nil {
		return nil, err
	}
	return []any{r.FlowHash, r.ClientID, r.RedirectURI, r.ResponseType, r.ResponseMode, scopes,
		r.State, r.Nonce, r.CodeChallenge, r.CodeChallengeMethod, prompt, int32(r.MaxAge), r.LoginHint,
		r.ConnectorID, acr, state, r.LoggedIn, enc.identity, enc.auth,
		r.SessionID, ms(r.CreatedAt), ms(r.Expiry), proto.protocol, proto.saml, proto.mfa, r.DPoPJKT, resources, claims, r.UILocales}, nil
}

func scanAuthRequest(sl storage.Sealer, sc scanner) (storage.AuthRequest, error) {
	var (
		r                               storage.AuthRequest
		scopes, prompt, acr, idt, authT string
		protocol                        string
		samlText, mfaText               *string // nil when NULL
		resources, claims               string
		maxAge                          int32
		created, expiry                 int64
	)
	err := sc.Scan(&r.ID, &r.FlowHash, &r.ClientID, &r.RedirectURI, &r.ResponseType, &r.ResponseMode,
		&scopes, &r.State, &r.Nonce, &r.CodeChallenge, &r.CodeChallengeMethod, &prompt, &maxAge,
		&r.LoginHint, &r.ConnectorID, &acr, &r.ConnectorState, &r.LoggedIn, &idt, &authT, &r.SessionID,
		&created, &expiry, &protocol, &samlText, &mfaText, &r.DPoPJKT, &resources, &claims, &r.UILocales)
	if err != nil {
		return r, err
	}
	r.MaxAge = int(maxAge)
	if r.Scopes, err = decodeStrings(scopes); err != nil {
		return r, err
	}
	if r.Resources, err = decodeStrings(resources); err != nil {
		return r, err
	}
	if r.RequestedClaims, err = storage.DecodeRequestedClaims(claims); err != nil {
		return r, err
	}
	if r.Prompt, err = decodeStrings(prompt); err != nil {
		return r, err
	}
	if r.ACRValues, err = decodeStrings(acr); err != nil {
		return r, err
	}
	if err := decodeIdentityAuth(sl, storage.SealContext("auth_requests", "auth", r.ID), idt, authT, &r.Identity, &r.Auth); err != nil {
		return r, err
	}
	if err := decodeProtocol(protocol, samlText, mfaText, &r); err != nil {
		return r, err
	}
	if r.ConnectorState, err = storage.OpenConnectorState(sl, r.ID, r.ConnectorState); err != nil {
		return r, err
	}
	r.CreatedAt, r.Expiry = fromMs(created), fromMs(expiry)
	return r, nil
}

// CreateAuthRequest stores a new auth request; storage.ErrAlreadyExists if the ID is taken.
func (s *Store) CreateAuthRequest(ctx context.Context, r storage.AuthRequest) error {
	args, err := authRequestArgs(s.sealer, r)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, qInsertAuthRequest, append([]any{r.ID}, args...)...)
	return insertErr("create auth request", err)
}

// GetAuthRequest returns the auth request with the given ID (expired or not).
func (s *Store) GetAuthRequest(ctx context.Context, id string) (storage.AuthRequest, error) {
	r, err := scanAuthRequest(s.sealer, s.pool.QueryRow(ctx, qGetAuthRequest, id))
	return r, getErr("get auth request", err)
}

// UpdateAuthRequest runs fn over the stored request (read FOR UPDATE) and stores its
// result in the same transaction. The ID cannot change. fn's error is returned (wrapped)
// and nothing is written.
func (s *Store) UpdateAuthRequest(ctx context.Context, id string, fn func(storage.AuthRequest) (storage.AuthRequest, error)) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := scanAuthRequest(s.sealer, tx.QueryRow(ctx, qGetAuthRequestLocked, id))
		if err != nil {
			return getErr("update auth request", err)
		}
		next, err := fn(cur)
		if err != nil {
			return fmt.Errorf("postgres: update auth request: %w", err)
		}
		args, err := authRequestArgs(s.sealer, next)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, qUpdateAuthRequest, append(args, id)...); err != nil {
			return fmt.Errorf("postgres: update auth request: %w", err)
		}
		return nil
	})
}

// DeleteAuthRequest deletes the auth request; storage.ErrNotFound if there is none.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, qDeleteAuthRequest, id)
	return mustAffect("delete auth request", tag, err)
}

var _ storage.AuthRequestSweeper = (*Store)(nil)

// qDeleteAuthRequestsOf deletes one browser's (flow hash) or one session's auth requests; an
// empty argument matches nothing.
const qDeleteAuthRequestsOf = `DELETE FROM auth_requests
	WHERE ($1 <> '' AND flow_hash = $1) OR ($2 <> '' AND session_id = $2)`

// DeleteAuthRequestsOf deletes the auth requests of the flow or of the session.
func (s *Store) DeleteAuthRequestsOf(ctx context.Context, flowHash, sessionID string) (int64, error) {
	tag, err := s.pool.Exec(ctx, qDeleteAuthRequestsOf, flowHash, sessionID)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete auth requests of flow or session: %w", err)
	}
	return tag.RowsAffected(), nil
}
