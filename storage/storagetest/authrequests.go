package storagetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunAuthRequestSweep runs the conformance tests of the optional storage.AuthRequestSweeper.
// A backend that implements it calls RunAuthRequestSweep next to Run; the tests fail if it
// does not.
func RunAuthRequestSweep(t *testing.T, open func(t *testing.T) storage.Storage) {
	s := open(t)
	sw := implements[storage.AuthRequestSweeper](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	// a and b: one browser's flow; c: another browser in session s1; d: unrelated; e: in
	// session s2 and another flow.
	reqs := map[string]func(*storage.AuthRequest){
		"a": func(r *storage.AuthRequest) { r.FlowHash = "flow-1" },
		"b": func(r *storage.AuthRequest) { r.FlowHash = "flow-1"; r.LoggedIn, r.SessionID = true, "s1" },
		"c": func(r *storage.AuthRequest) { r.FlowHash = "flow-2"; r.LoggedIn, r.SessionID = true, "s1" },
		"d": func(r *storage.AuthRequest) { r.FlowHash = "flow-3" },
		"e": func(r *storage.AuthRequest) { r.FlowHash = "flow-4"; r.LoggedIn, r.SessionID = true, "s2" },
	}
	for id, mut := range reqs {
		r := authRequest(id, now)
		mut(&r)
		wantErr(t, "create "+id, s.CreateAuthRequest(ctx, r), nil)
	}
	exists := func(id string) bool {
		_, err := s.GetAuthRequest(ctx, id)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("get %s: %v", id, err)
		}
		return err == nil
	}
	steps := []struct {
		flow, session string
		deleted       int64
		gone, kept    []string
	}{
		{"", "", 0, nil, []string{"a", "b", "c", "d", "e"}}, // empty arguments match nothing
		{"flow-none", "s-none", 0, nil, []string{"a", "b", "c", "d", "e"}},
		{"flow-1", "s1", 3, []string{"a", "b", "c"}, []string{"d", "e"}},
		{"", "s2", 1, []string{"e"}, []string{"d"}},
		{"flow-3", "", 1, []string{"d"}, nil},
	}
	for _, st := range steps {
		n, err := sw.DeleteAuthRequestsOf(ctx, st.flow, st.session)
		wantErr(t, "delete of "+st.flow+"/"+st.session, err, nil)
		if n != st.deleted {
			t.Errorf("delete of %q/%q removed %d, want %d", st.flow, st.session, n, st.deleted)
		}
		for _, id := range st.gone {
			if exists(id) {
				t.Errorf("after delete of %q/%q: %s still exists", st.flow, st.session, id)
			}
		}
		for _, id := range st.kept {
			if !exists(id) {
				t.Errorf("after delete of %q/%q: %s is gone", st.flow, st.session, id)
			}
		}
	}
}

// testAuthRequestProtocols: Protocol (oidc, saml, forward-auth), SAML and MFA round-trip through create, get and
// update; an empty Protocol reads back as oidc; nil pointers stay nil.
func testAuthRequestProtocols(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()

	zero := authRequest("ar-oidc", now)
	zero.Protocol = ""
	wantErr(t, "create oidc (zero protocol)", s.CreateAuthRequest(ctx, zero), nil)
	got, err := s.GetAuthRequest(ctx, "ar-oidc")
	wantErr(t, "get oidc", err, nil)
	want := zero
	want.Protocol = storage.ProtocolOIDC
	mustEqual(t, "oidc auth request (zero protocol)", want, got)
	if got.SAML != nil || got.MFA != nil {
		t.Errorf("oidc auth request: SAML = %+v, MFA = %+v; want both nil", got.SAML, got.MFA)
	}

	saml := authRequest("ar-saml", now)
	saml.Protocol = storage.ProtocolSAML
	saml.ClientID = "saml:sp-1"
	saml.RedirectURI, saml.ResponseType, saml.ResponseMode, saml.State, saml.Nonce = "", "", "", "", ""
	saml.SAML = &storage.SAMLRequest{
		SP:         "sp-1",
		RequestID:  "_a1b2c3",
		ACSURL:     "https://sp.example.com/saml/acs?x=1&y=2",
		RelayState: "relay \"state\" <&>",
		Policy:     `{"name_id_format":"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"}`,
		Parked:     true,
	}
	saml.MFA = fullMFA()
	wantErr(t, "create saml", s.CreateAuthRequest(ctx, saml), nil)
	got, err = s.GetAuthRequest(ctx, "ar-saml")
	wantErr(t, "get saml", err, nil)
	mustEqual(t, "saml auth request", saml, got)

	// A forward-auth login: its own protocol, the original URL in RedirectURI.
	fwd := authRequest("ar-fwd", now)
	fwd.Protocol = storage.ProtocolForwardAuth
	fwd.ClientID = "app:grafana"
	fwd.RedirectURI = "https://grafana.corp.example/d/x?orgId=1&from=now-6h"
	fwd.ResponseType, fwd.ResponseMode, fwd.State, fwd.Nonce = "", "", "", ""
	wantErr(t, "create forward-auth", s.CreateAuthRequest(ctx, fwd), nil)
	got, err = s.GetAuthRequest(ctx, "ar-fwd")
	wantErr(t, "get forward-auth", err, nil)
	mustEqual(t, "forward-auth auth request", fwd, got)

	// MFA: nil -> set -> nil through UpdateAuthRequest.
	for i, mfa := range []*storage.MFAProgress{fullMFA(), nil} {
		err := s.UpdateAuthRequest(ctx, "ar-oidc", func(cur storage.AuthRequest) (storage.AuthRequest, error) {
			mustEqual(t, fmt.Sprintf("update %d input", i), want, cur)
			cur.MFA = mfa
			want = cur
			return cur, nil
		})
		wantErr(t, fmt.Sprintf("update %d (MFA %v)", i, mfa), err, nil)
		got, err := s.GetAuthRequest(ctx, "ar-oidc")
		wantErr(t, fmt.Sprintf("get after update %d", i), err, nil)
		mustEqual(t, fmt.Sprintf("auth request after update %d", i), want, got)
		if (got.MFA == nil) != (mfa == nil) {
			t.Errorf("after update %d: MFA = %+v, want %+v", i, got.MFA, mfa)
		}
	}

	// Clearing SAML and switching protocol through an update.
	err = s.UpdateAuthRequest(ctx, "ar-saml", func(cur storage.AuthRequest) (storage.AuthRequest, error) {
		cur.SAML, cur.MFA, cur.Protocol = nil, nil, ""
		return cur, nil
	})
	wantErr(t, "update saml", err, nil)
	got, err = s.GetAuthRequest(ctx, "ar-saml")
	wantErr(t, "get cleared saml", err, nil)
	if got.Protocol != storage.ProtocolOIDC || got.SAML != nil || got.MFA != nil {
		t.Errorf("cleared request: Protocol %q, SAML %+v, MFA %+v; want oidc, nil, nil", got.Protocol, got.SAML, got.MFA)
	}
}

// fullMFA returns an MFAProgress with every field set.
func fullMFA() *storage.MFAProgress {
	return &storage.MFAProgress{
		StepUp:   true,
		TOTP:     `{"secret":"JBSWY3DPEHPK3PXP","issuer":"gate"}`,
		WebAuthn: `{"challenge":"c2lnbi1pbg","user_id":"dTE"}`,
		Verified: "otp",
	}
}
