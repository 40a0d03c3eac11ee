package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1/adminv1connect"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// services are the API clients of every service, authenticated as the admin client.
type services struct {
	users      adminv1connect.UserServiceClient
	sessions   adminv1connect.SessionServiceClient
	consents   adminv1connect.ConsentServiceClient
	keys       adminv1connect.KeyServiceClient
	connectors adminv1connect.ConnectorServiceClient
	audit      adminv1connect.AuditServiceClient
}

func (e *env) services(t *testing.T) services {
	t.Helper()
	opt := bearer(e.clientToken(t, opsID, opsSecret, config.AdminScope))
	hc, u := e.admin.Client(), e.admin.URL
	return services{
		users: adminv1connect.NewUserServiceClient(hc, u, opt), sessions: adminv1connect.NewSessionServiceClient(hc, u, opt),
		consents: adminv1connect.NewConsentServiceClient(hc, u, opt), keys: adminv1connect.NewKeyServiceClient(hc, u, opt),
		connectors: adminv1connect.NewConnectorServiceClient(hc, u, opt), audit: adminv1connect.NewAuditServiceClient(hc, u, opt),
	}
}

// refreshes reports whether the refresh token still works (and returns its successor).
func (e *env) refreshes(t *testing.T, rt string) (string, bool) {
	t.Helper()
	body, status := e.token(t, cfgAppID, cfgAppSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if status != http.StatusOK {
		return "", false
	}
	return body["refresh_token"].(string), true
}

func TestUsers(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	api := e.services(t).users
	create := func(u *adminv1.User, pw string) error {
		_, err := api.CreateUser(ctx, connect.NewRequest(&adminv1.CreateUserRequest{User: u, Password: pw}))
		return err
	}
	if err := create(&adminv1.User{Username: "bob", Email: "bob@example.com", EmailVerified: true, Groups: []string{"ops"}}, "bob-password-1"); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name  string
		u     *adminv1.User
		pw    string
		code  connect.Code
		field string
	}{
		{"no user", nil, "long-enough", connect.CodeInvalidArgument, "user"},
		{"bad username", &adminv1.User{Username: "bad name"}, "long-enough", connect.CodeInvalidArgument, "user.username"},
		{"short password", &adminv1.User{Username: "carol"}, "short", connect.CodeInvalidArgument, "password"},
		{"oversized password", &adminv1.User{Username: "carol"}, strings.Repeat("p", 100), connect.CodeInvalidArgument, "password"},
		{"oversized name", &adminv1.User{Username: "carol", Name: strings.Repeat("n", 300)}, "long-enough", connect.CodeInvalidArgument, "user.name"},
		{"duplicate", &adminv1.User{Username: "bob"}, "long-enough", connect.CodeAlreadyExists, "user.username"},
		{"a configured user", &adminv1.User{Username: "alice"}, "long-enough", connect.CodeAlreadyExists, "user.username"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.name, create(tt.u, tt.pw), tt.code, tt.field) })
	}

	// bob logs in at once; a new password replaces the old one.
	rt := e.codeFlowAs(t, cfgAppID, cfgAppSecret, "bob", "bob-password-1")["refresh_token"].(string)
	if _, err := api.SetUserPassword(ctx, connect.NewRequest(&adminv1.SetUserPasswordRequest{Username: "bob", Password: "bob-password-2"})); err != nil {
		t.Fatal(err)
	}
	e.codeFlowAs(t, cfgAppID, cfgAppSecret, "bob", "bob-password-2")

	// Disabled: refresh tokens stop, and so does the login (the form comes back).
	dis, err := api.DisableUser(ctx, connect.NewRequest(&adminv1.DisableUserRequest{Username: "bob"}))
	if err != nil || dis.Msg.GetGrantsRevoked() < 2 || dis.Msg.GetSessionsEnded() < 1 {
		t.Fatalf("disable: %v %v", dis, err)
	}
	if _, ok := e.refreshes(t, rt); ok {
		t.Fatal("a disabled user's refresh token still works")
	}
	list, err := api.ListUsers(ctx, connect.NewRequest(&adminv1.ListUsersRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, u := range list.Msg.GetUsers() {
		got[u.GetUsername()] = u.GetSource() + map[bool]string{true: ",disabled"}[u.GetDisabled()]
	}
	if got["alice"] != "config" || got["bob"] != "api,disabled" {
		t.Fatalf("users = %v", got)
	}
	// A new password enables bob again.
	if _, err := api.SetUserPassword(ctx, connect.NewRequest(&adminv1.SetUserPasswordRequest{Username: "bob", Password: "bob-password-3"})); err != nil {
		t.Fatal(err)
	}
	rt = e.codeFlowAs(t, cfgAppID, cfgAppSecret, "bob", "bob-password-3")["refresh_token"].(string)
	if _, err := api.DeleteUser(ctx, connect.NewRequest(&adminv1.DeleteUserRequest{Username: "bob"})); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.refreshes(t, rt); ok {
		t.Fatal("a deleted user's refresh token still works")
	}

	changes := []struct {
		name  string
		call  func() error
		code  connect.Code
		field string
	}{
		{"password of a config user", func() error {
			_, err := api.SetUserPassword(ctx, connect.NewRequest(&adminv1.SetUserPasswordRequest{Username: "alice", Password: "long-enough"}))
			return err
		}, connect.CodeFailedPrecondition, "user.source"},
		{"disable a config user", func() error {
			_, err := api.DisableUser(ctx, connect.NewRequest(&adminv1.DisableUserRequest{Username: "alice"}))
			return err
		}, connect.CodeFailedPrecondition, "user.source"},
		{"delete a config user", func() error {
			_, err := api.DeleteUser(ctx, connect.NewRequest(&adminv1.DeleteUserRequest{Username: "alice"}))
			return err
		}, connect.CodeFailedPrecondition, "user.source"},
		{"delete unknown", func() error {
			_, err := api.DeleteUser(ctx, connect.NewRequest(&adminv1.DeleteUserRequest{Username: "bob"}))
			return err
		}, connect.CodeNotFound, "username"},
	}
	for _, tt := range changes {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.name, tt.call(), tt.code, tt.field) })
	}
}

func TestSessionsAndConsents(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	s := e.services(t)
	rt1 := e.codeFlow(t, cfgAppID, cfgAppSecret)["refresh_token"].(string)
	rt2 := e.codeFlow(t, cfgAppID, cfgAppSecret)["refresh_token"].(string)
	alice := &adminv1.UserRef{Username: "alice"}

	list, err := s.sessions.ListSessions(ctx, connect.NewRequest(&adminv1.ListSessionsRequest{User: alice}))
	if err != nil || len(list.Msg.GetSessions()) != 2 {
		t.Fatalf("sessions of alice: %v %v", list, err)
	}
	sub := list.Msg.GetSessions()[0].GetSubject()
	// Revoking one session ends it; the offline refresh families live on.
	gen := e.gh.Gatehouse.Server.Sessions.Ended()
	if _, err := s.sessions.RevokeSession(ctx, connect.NewRequest(&adminv1.RevokeSessionRequest{Id: list.Msg.GetSessions()[0].GetId()})); err != nil {
		t.Fatal(err)
	}
	if e.gh.Gatehouse.Server.Sessions.Ended() == gen {
		t.Error("revoking a session did not tell this process's session caches (forward auth)")
	}
	list, err = s.sessions.ListSessions(ctx, connect.NewRequest(&adminv1.ListSessionsRequest{User: &adminv1.UserRef{Subject: sub}}))
	if err != nil || len(list.Msg.GetSessions()) != 1 {
		t.Fatalf("sessions after revoking one: %v %v", list, err)
	}
	rt1, ok := e.refreshes(t, rt1)
	if !ok {
		t.Fatal("an offline refresh token died with its session")
	}
	queued := func(want int) {
		t.Helper()
		ds, err := e.gh.Store.(storage.LogoutStore).ClaimLogouts(ctx, "test", e.gh.Clock.Now(), time.Minute, 10)
		if err != nil || len(ds) != want || (want > 0 && ds[0].ClientID != cfgAppID) {
			t.Fatalf("back-channel logout deliveries queued: %+v, %v; want %d for %s", ds, err, want, cfgAppID)
		}
	}
	queued(1) // the app of the revoked session is told (issue 18)

	consents, err := s.consents.ListConsents(ctx, connect.NewRequest(&adminv1.ListConsentsRequest{User: alice}))
	if err != nil || len(consents.Msg.GetConsents()) != 1 || consents.Msg.GetConsents()[0].GetClientId() != cfgAppID {
		t.Fatalf("consents: %v %v", consents, err)
	}

	// Sign out everywhere: sessions and refresh families.
	res, err := s.sessions.RevokeUserSessions(ctx, connect.NewRequest(&adminv1.RevokeUserSessionsRequest{User: alice}))
	if err != nil || res.Msg.GetSessionsEnded() != 1 || res.Msg.GetGrantsRevoked() < 2 {
		t.Fatalf("revoke all: %v %v", res, err)
	}
	queued(1) // and the app of the other session
	for i, rt := range []string{rt1, rt2} {
		if _, ok := e.refreshes(t, rt); ok {
			t.Fatalf("refresh token %d survived sign-out everywhere", i)
		}
	}

	// Revoking the consent revokes the client's grants of the user.
	rt3 := e.codeFlow(t, cfgAppID, cfgAppSecret)["refresh_token"].(string)
	rc, err := s.consents.RevokeConsent(ctx, connect.NewRequest(&adminv1.RevokeConsentRequest{User: alice, ClientId: cfgAppID}))
	if err != nil || rc.Msg.GetGrantsRevoked() != 1 {
		t.Fatalf("revoke consent: %v %v", rc, err)
	}
	if _, ok := e.refreshes(t, rt3); ok {
		t.Fatal("a refresh token survived the revocation of its consent")
	}
	_, err = s.consents.RevokeConsent(ctx, connect.NewRequest(&adminv1.RevokeConsentRequest{User: alice, ClientId: cfgAppID}))
	wantCode(t, "revoke again", err, connect.CodeNotFound, "client_id")
	_, err = s.sessions.ListSessions(ctx, connect.NewRequest(&adminv1.ListSessionsRequest{}))
	wantCode(t, "no user", err, connect.CodeInvalidArgument, "user")
	_, err = s.sessions.RevokeSession(ctx, connect.NewRequest(&adminv1.RevokeSessionRequest{Id: "nope"}))
	wantCode(t, "unknown session", err, connect.CodeNotFound, "id")
}

func TestKeysConnectorsAudit(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	s := e.services(t)
	keys, err := s.keys.ListKeys(ctx, connect.NewRequest(&adminv1.ListKeysRequest{}))
	if err != nil || len(keys.Msg.GetKeys()) != 1 || keys.Msg.GetKeys()[0].GetState() != "signing" {
		t.Fatalf("keys: %v %v", keys, err)
	}
	rot, err := s.keys.RotateKey(ctx, connect.NewRequest(&adminv1.RotateKeyRequest{}))
	if err != nil || rot.Msg.GetKey().GetState() != "next" {
		t.Fatalf("rotate: %v %v", rot, err)
	}
	keys, err = s.keys.ListKeys(ctx, connect.NewRequest(&adminv1.ListKeysRequest{}))
	if err != nil || len(keys.Msg.GetKeys()) != 2 {
		t.Fatalf("keys after rotation: %v %v", keys, err)
	}
	conns, err := s.connectors.ListConnectors(ctx, connect.NewRequest(&adminv1.ListConnectorsRequest{}))
	if err != nil || len(conns.Msg.GetConnectors()) != 1 || conns.Msg.GetConnectors()[0].GetStatus() != "up" || conns.Msg.GetConnectors()[0].GetType() != "local" {
		t.Fatalf("connectors: %v %v", conns, err)
	}
	events, err := s.audit.ListAuditEvents(ctx, connect.NewRequest(&adminv1.ListAuditEventsRequest{Limit: 10}))
	if err != nil {
		t.Fatal(err)
	}
	last := events.Msg.GetEvents()[len(events.Msg.GetEvents())-1]
	if last.GetType() != "admin.key.rotate" || last.GetClientId() != opsID || last.GetDetail()["target"] != rot.Msg.GetKey().GetId() {
		t.Fatalf("last audit event = %v", last)
	}
	_, err = s.audit.ListAuditEvents(ctx, connect.NewRequest(&adminv1.ListAuditEventsRequest{Limit: 5000}))
	wantCode(t, "limit", err, connect.CodeInvalidArgument, "limit")
}

// TestEveryServiceAuthenticates: no service answers without a token.
func TestEveryServiceAuthenticates(t *testing.T) {
	e := newEnv(t, "")
	for _, path := range []string{
		adminv1connect.ClientServiceListClientsProcedure, adminv1connect.UserServiceListUsersProcedure,
		adminv1connect.SessionServiceListSessionsProcedure, adminv1connect.ConsentServiceListConsentsProcedure,
		adminv1connect.KeyServiceRotateKeyProcedure, adminv1connect.ConnectorServiceListConnectorsProcedure,
		adminv1connect.AuditServiceListAuditEventsProcedure, adminv1connect.ServiceProviderServiceListServiceProvidersProcedure,
	} {
		resp, err := http.Post(e.admin.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() //nolint:errcheck // test
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", path, resp.StatusCode)
		}
	}
}
