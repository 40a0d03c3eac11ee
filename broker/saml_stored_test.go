package broker_test

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/storage"
)

// storeSP registers a test SP in storage (as the admin API does) with its metadata inline.
func storeSP(t *testing.T, e *env, id string, ts *testSP) storage.ServiceProvider {
	t.Helper()
	md, err := xml.Marshal(ts.sp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	sp := storage.ServiceProvider{ID: id, Name: "Stored " + id, EntityID: ts.sp.EntityID, MetadataXML: string(md),
		Attributes: map[string]string{"mail": "email", "memberOf": "groups"}, SignResponse: true, SignAssertion: true,
		Trusted: true, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := e.store.(storage.ServiceProviderStore).CreateServiceProvider(t.Context(), sp); err != nil {
		t.Fatal(err)
	}
	return sp
}

// TestSAMLStoredServiceProvider: an SP stored while Gatehouse runs (no restart) signs users
// in at once (its metadata parsed from storage, its pseudo-client found, attributes mapped),
// an OIDC client's logout reaches it, a change of its stored record counts at the next
// request, and once deleted its requests are refused.
func TestSAMLStoredServiceProvider(t *testing.T) {
	ts := newTestSP(t, true)
	e := newSAMLEnv(t)
	e.trust(ts)
	b := e.browser()
	u, _ := ts.redirectRequest(t, "", nil)
	if p := b.get(u); p.status != http.StatusBadRequest || !strings.Contains(p.body, "not registered") {
		t.Fatalf("before it is stored: %d\n%s", p.status, p.body)
	}
	sp := storeSP(t, e, "stored", ts)

	u, reqID := ts.redirectRequest(t, "relay", nil)
	action, vals := e.samlLogin(b, b.get(u), u, true)
	a := ts.consume(t, action, vals, reqID)
	if got := attrValues(a, "mail"); len(got) != 1 || got[0] != "alice@example.com" {
		t.Errorf("mail = %q", got)
	}
	if got := attrValues(a, "displayName"); len(got) != 0 {
		t.Errorf("displayName released without a mapping: %q", got)
	}

	// A change of the stored record counts at the next request.
	sp.Attributes = map[string]string{"displayName": "name"}
	if err := e.store.(storage.ServiceProviderStore).UpdateServiceProvider(t.Context(), sp); err != nil {
		t.Fatal(err)
	}
	u, reqID = ts.redirectRequest(t, "", nil)
	p, _ := b.follow(e, b.get(u), u)
	action, vals = form(t, p.body)
	a = ts.consume(t, action, vals, reqID)
	if got := attrValues(a, "displayName"); len(got) != 1 || got[0] != "Alice Example" || len(attrValues(a, "mail")) != 0 {
		t.Errorf("after the update: displayName %q mail %q", got, attrValues(a, "mail"))
	}

	// An OIDC client of the same session logs out: the stored SP gets its LogoutRequest.
	r := e.rp(trustedID, trustedSecret, otherRedirect)
	v := oauth2.GenerateVerifier()
	_, at := b.follow(e, b.get(r.oauth.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(v))), e.issuer)
	tok, err := r.oauth.Exchange(r.ctx, callbackParams(t, at).Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	p = b.get(e.issuer + "/logout?" + url.Values{"id_token_hint": {rawID}}.Encode())
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, ts.sp.SloURL.String()) {
		t.Fatalf("OIDC logout did not go to the stored SP's SLO: %d %q", p.status, p.location)
	}
	req, _ := http.NewRequest(http.MethodGet, p.location, nil)
	if lr, err := ts.sp.ValidateLogoutRequest(req); err != nil || lr.NameID.Value != a.Subject.NameID.Value {
		t.Fatalf("stored SP's LogoutRequest: %+v %v", lr, spErr(err))
	}

	// Deleted: refused at once.
	if err := e.store.(storage.ServiceProviderStore).DeleteServiceProvider(t.Context(), "stored"); err != nil {
		t.Fatal(err)
	}
	u, _ = ts.redirectRequest(t, "", nil)
	if p := b.get(u); p.status != http.StatusBadRequest || !strings.Contains(p.body, "not registered") {
		t.Fatalf("after delete: %d\n%s", p.status, p.body)
	}
	if p := b.get(e.issuer + "/saml/idp/init/stored"); p.status < 400 {
		t.Fatalf("IdP-initiated login of a deleted SP: %d", p.status)
	}
}
