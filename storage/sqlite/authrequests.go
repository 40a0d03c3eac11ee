package sqlite

import (
	"context"
	"fmt"

	"github.com/gatehouse-id/gatehouse/storage"
)

const authRequestCols = `id, flow_hash, client_id, redirect_uri, response_type, response_mode, scopes,
	state, nonce, code_challenge, code_challenge_method, prompt, max_age, login_hint, connector_id,
	acr_values, connector_state, logged_in, identity, auth, session_id, created_at, expiry,
	protocol, saml_request, mfa_progress, dpop_jkt, resources, claims_request, ui_locales`

const (
	qInsertAuthRequest = `INSERT INTO auth_requests (` + authRequestCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qGetAuthRequest    = `SELECT ` + authRequestCols + ` FROM auth_requests WHERE id = ?`
	qUpdateAuthRequest = `UPDATE auth_requests SET flow_hash = ?, client_id = ?, redirect_uri = ?,
	response_type = ?, response_mode = ?, scopes = ?, state = ?, nonce = ?, code_challenge = ?,
	code_challenge_method = ?, prompt = ?, max_age = ?, login_hint = ?, connector_id = ?,
	acr_values = ?, connector_state = ?, logged_in = ?, identity = ?, auth = ?, session_id = ?,
	created_at = ?, expiry = ?, protocol = ?, saml_request = ?, mfa_progress = ?,
	dpop_jkt = ?, resources = ?, claims_request = ?, ui_locales = ? WHERE id = ?`
	qDeleteAuthRequest = `DELETE FROM auth_requests WHERE id = ?`
)

// authRequestArgs encodes r as the column values after id, in authRequestCols order.
func authRequestArgs(sl storage.Sealer, r storage.AuthRequest) ([]any, error) {
	scopes, err := stringsText(r.Scopes)
	if err != nil {
		return nil, err
	}
	prompt, err := stringsText(r.Prompt)
	if err != nil {
		return nil, err
	}
	acr, err := stringsText(r.ACRValues)
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
	resources, err := stringsText(r.Resources)
	if err != nil {
		return nil, err
	}
	claims, err := storage.EncodeRequestedClaims(r.RequestedClaims)
	if err != nil {
		return nil, err
	}
	return []any{r.FlowHash, r.ClientID, r.RedirectURI, r.ResponseType, r.ResponseMode, scopes,
		r.State, r.Nonce, r.CodeChallenge, r.CodeChallengeMethod, prompt, r.MaxAge, r.LoginHint,
		r.ConnectorID, acr, state, boolInt(r.LoggedIn), enc.identity, enc.auth,
		r.SessionID, ms(r.CreatedAt), ms(r.Expiry), proto.protocol, proto.saml, proto.mfa, r.DPoPJKT, resources, claims, r.UILocales}, nil
}

func scanAuthRequest(sl storage.Sealer, sc scanner) (storage.AuthRequest, error) {
	var (
		r                               storage.AuthRequest
		scopes, prompt, acr, idt, authT []byte
		protocol                        string
		samlText, mfaText               []byte // nil when NULL
		resources                       []byte
		claims                          string
		loggedIn, created, expiry       int64
	)
	err := sc.Scan(&r.ID, &r.FlowHash, &r.ClientID, &r.RedirectURI, &r.ResponseType, &r.ResponseMode,
		&scopes, &r.State, &r.Nonce, &r.CodeChallenge, &r.CodeChallengeMethod, &prompt, &r.MaxAge,
		&r.LoginHint, &r.ConnectorID, &acr, &r.ConnectorState, &loggedIn, &idt, &authT, &r.SessionID,
		&created, &expiry, &protocol, &samlText, &mfaText, &r.DPoPJKT, &resources, &claims, &r.UILocales)
	if err != nil {
		return r, err
	}
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
	r.LoggedIn = loggedIn != 0
	r.CreatedAt, r.Expiry = fromMs(created), fromMs(expiry)
	return r, nil
}

// CreateAuthRequest stores a new auth request; storage.ErrAlreadyExists if the ID is taken.
func (s *Store) CreateAuthRequest(ctx context.Context, r storage.AuthRequest) error {
	args, err := authRequestArgs(s.sealer, r)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, qInsertAuthRequest, append([]any{r.ID}, args...)...)
	return insertErr("create auth request", err)
}

// GetAuthRequest returns the auth request with the given ID (expired or not).
func (s *Store) GetAuthRequest(ctx context.Context, id string) (storage.AuthRequest, error) {
	r, err := scanAuthRequest(s.sealer, s.queryRow(ctx, qGetAuthRequest, id))
	return r, getErr("get auth request", err)
}

// UpdateAuthRequest runs fn over the stored request and stores its result, atomically.
// The ID cannot change. fn's error is returned (wrapped) and nothing is written.
func (s *Store) UpdateAuthRequest(ctx context.Context, id string, fn func(storage.AuthRequest) (storage.AuthRequest, error)) error {
	return s.inTx(ctx, func(t *txn) error {
		cur, err := scanAuthRequest(s.sealer, t.queryRow(ctx, qGetAuthRequest, id))
		if err != nil {
			return getErr("update auth request", err)
		}
		next, err := fn(cur)
		if err != nil {
			return fmt.Errorf("sqlite: update auth request: %w", err)
		}
		args, err := authRequestArgs(s.sealer, next)
		if err != nil {
			return err
		}
		_, err = t.exec(ctx, qUpdateAuthRequest, append(args, id)...)
		if err != nil {
			return fmt.Errorf("sqlite: update auth request: %w", err)
		}
		return nil
	})
}

// DeleteAuthRequest deletes the auth request; storage.ErrNotFound if there is none.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	res, err := s.exec(ctx, qDeleteAuthRequest, id)
	return mustAffect("delete auth request", res, err)
}

var _ storage.AuthRequestSweeper = (*Store)(nil)

// qDeleteAuthRequestsOf deletes one browser's (flow hash) or one session's auth requests; an
// empty argument matches nothing.
const qDeleteAuthRequestsOf = `DELETE FROM auth_requests
	WHERE (?1 <> '' AND flow_hash = ?1) OR (?2 <> '' AND session_id = ?2)`

// DeleteAuthRequestsOf deletes the auth requests of the flow or of the session.
func (s *Store) DeleteAuthRequestsOf(ctx context.Context, flowHash, sessionID string) (int64, error) {
	res, err := s.writer.ExecContext(ctx, qDeleteAuthRequestsOf, flowHash, sessionID)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete auth requests of flow or session: %w", err)
	}
	return res.RowsAffected()
}
