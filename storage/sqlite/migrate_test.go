package sqlite

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// qInsertOldAuthRequest inserts an auth request in the shape before migration 0008:
// id, response_type, response_mode, connector_state.
const qInsertOldAuthRequest = `INSERT INTO auth_requests (id, flow_hash, client_id, redirect_uri,
	response_type, response_mode, scopes, state, nonce, code_challenge, code_challenge_method,
	prompt, max_age, login_hint, connector_id, acr_values, connector_state, logged_in, identity,
	auth, session_id, created_at, expiry)
	VALUES (?, 'flow', 'client-a', 'https://app.example.com/cb', ?, ?, '["openid"]', 'st', 'n',
	'', '', '[]', -1, '', 'ldap', '[]', ?, 0, '{}', '{}', '', 0, 0)`

// oldAuthRequests are the in-flight requests migration 0008 meets, and whether it keeps them.
var oldAuthRequests = []struct {
	id, responseType, responseMode string
	connectorState                 []byte
	kept                           bool
}{
	{"oidc", "code", "query", []byte(`{"nonce":"n"}`), true},
	{"oidc-no-state", "code", "form_post", nil, true},
	{"oidc-mfa-lookalike", "code", "query", []byte("gatehouse-mfa2:x"), true},
	{"saml", "saml", "saml:sp-1:_id1", nil, false},
	{"saml-pending", "saml-pending", "saml:sp-1:_id2", nil, false},
	{"saml-mode", "code", "saml:sp-1:_id3", nil, false},
	{"mfa", "code", "query", []byte(`gatehouse-mfa1:{"totp":"x"}`), false},
}

// TestMigration0008 applies 0001-0007, stores requests in the old shapes, and checks that
// 0008 deletes exactly the ones that hid SAML or MFA state, and that the kept ones read as
// OIDC with no SAML or MFA.
func TestMigration0008(t *testing.T) {
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 8 || ms[7].Name != "auth_request_protocol" {
		t.Fatalf("want 0008_auth_request_protocol among %d migrations", len(ms))
	}
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	if err := privateFiles(path, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if err := enableWAL(t.Context(), path, busyTimeout); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	old := &Store{path: path, logger: testLogger(t), writer: db}
	if err := old.applyMigrations(t.Context(), ms[:7]); err != nil {
		t.Fatal(err)
	}
	for _, r := range oldAuthRequests {
		if _, err := db.ExecContext(t.Context(), qInsertOldAuthRequest, r.id, r.responseType, r.responseMode, r.connectorState); err != nil {
			t.Fatalf("insert %s: %v", r.id, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, path)
	for _, r := range oldAuthRequests {
		got, err := s.GetAuthRequest(t.Context(), r.id)
		switch {
		case !r.kept && !errors.Is(err, storage.ErrNotFound):
			t.Errorf("%s: after 0008 err = %v, want ErrNotFound (deleted)", r.id, err)
		case r.kept && err != nil:
			t.Errorf("%s: after 0008: %v, want it kept", r.id, err)
		case r.kept && (got.Protocol != storage.ProtocolOIDC || got.SAML != nil || got.MFA != nil):
			t.Errorf("%s: after 0008 Protocol %q, SAML %+v, MFA %+v; want oidc, nil, nil", r.id, got.Protocol, got.SAML, got.MFA)
		case r.kept && string(got.ConnectorState) != string(r.connectorState):
			t.Errorf("%s: after 0008 ConnectorState %q, want %q", r.id, got.ConnectorState, r.connectorState)
		}
	}
}
