package broker_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/mfa"
)

// samlStatus returns the second-level status of a Response ("" for Success).
func samlStatus(t *testing.T, vals map[string][]string) string {
	t.Helper()
	raw, _ := base64.StdEncoding.DecodeString(vals["SAMLResponse"][0])
	for _, st := range []string{samlidp.StatusInvalidNameIDPolicy, samlidp.StatusNoAuthnContext, samlidp.StatusNoPassive, samlidp.StatusRequestDenied} {
		if bytes.Contains(raw, []byte(st)) {
			if bytes.Contains(raw, []byte("<saml:Assertion")) || bytes.Contains(raw, []byte("EncryptedAssertion")) {
				t.Fatalf("status %s with an assertion:\n%s", st, raw)
			}
			return st
		}
	}
	return ""
}

func nameIDPolicy(format string, mutate ...func(*saml.NameIDPolicy)) func(*saml.AuthnRequest) {
	return func(r *saml.AuthnRequest) {
		yes := true
		r.NameIDPolicy = &saml.NameIDPolicy{AllowCreate: &yes}
		if format != "" {
			r.NameIDPolicy.Format = &format
		}
		for _, m := range mutate {
			m(r.NameIDPolicy)
		}
	}
}

// Attack (issue 12.10): NameIDPolicy Format was ignored, so an SP asking for a transient
// NameID (mod_auth_mellon's default) got the persistent one, a lasting identifier it did not
// ask for, with Success; a format Gatehouse cannot produce must get InvalidNameIDPolicy
// (saml-core 3.4.1.1); only an omitted or unspecified format lets the IdP choose.
func TestSAMLNameIDPolicy(t *testing.T) {
	other := "https://other.example.com/affiliation"
	for _, tc := range []struct {
		name       string
		spFormat   string
		attrs      map[string]string
		req        func(*saml.AuthnRequest)
		wantStatus string
		wantFormat saml.NameIDFormat
	}{
		{"transient asked, persistent configured", "", nil, nameIDPolicy(string(saml.TransientNameIDFormat)), "", saml.TransientNameIDFormat},
		{"persistent asked", "transient", nil, nameIDPolicy(string(saml.PersistentNameIDFormat)), "", saml.PersistentNameIDFormat},
		{"emailAddress asked, email released", "", nil, nameIDPolicy(string(saml.EmailAddressNameIDFormat)), "", saml.EmailAddressNameIDFormat},
		{"emailAddress asked, email not released", "", map[string]string{"displayName": "name"},
			nameIDPolicy(string(saml.EmailAddressNameIDFormat)), samlidp.StatusInvalidNameIDPolicy, ""},
		{"unspecified: the configured format", "transient", nil, nameIDPolicy(string(saml.UnspecifiedNameIDFormat)), "", saml.TransientNameIDFormat},
		{"omitted format: the configured format", "", nil, nameIDPolicy(""), "", saml.PersistentNameIDFormat},
		{"no policy: the configured format", "emailAddress", nil, func(r *saml.AuthnRequest) { r.NameIDPolicy = nil }, "", saml.EmailAddressNameIDFormat},
		{"X509SubjectName", "", nil, nameIDPolicy("urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"), samlidp.StatusInvalidNameIDPolicy, ""},
		{"encrypted", "", nil, nameIDPolicy("urn:oasis:names:tc:SAML:2.0:nameid-format:encrypted"), samlidp.StatusInvalidNameIDPolicy, ""},
		{"another SPNameQualifier", "", nil, nameIDPolicy(string(saml.PersistentNameIDFormat), func(p *saml.NameIDPolicy) { p.SPNameQualifier = &other }),
			samlidp.StatusInvalidNameIDPolicy, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSP(t, true)
			e := newSAMLEnv(t, spConfig("wiki", ts, func(c *config.ServiceProvider) {
				c.Trusted, c.NameIDFormat = true, tc.spFormat
				if tc.attrs != nil {
					c.Attributes = tc.attrs
				}
			}))
			e.trust(ts)
			b := e.browser()
			u, reqID := ts.redirectRequest(t, "", tc.req)
			p := b.get(u)
			if tc.wantStatus != "" {
				// Refused before any login: nothing to ask the user.
				p, _ = b.follow(e, p, u)
				if !strings.Contains(p.body, "SAMLResponse") {
					t.Fatalf("want an error Response at once, got %d\n%s", p.status, p.body)
				}
				_, vals := form(t, p.body)
				if got := samlStatus(t, vals); got != tc.wantStatus {
					t.Fatalf("status %q, want %q", got, tc.wantStatus)
				}
				return
			}
			action, vals := e.samlLogin(b, p, u, true)
			a := ts.consume(t, action, vals, reqID)
			if a.Subject.NameID.Format != string(tc.wantFormat) {
				t.Fatalf("NameID format %q, want %q", a.Subject.NameID.Format, tc.wantFormat)
			}
			if tc.wantFormat != saml.TransientNameIDFormat {
				return
			}
			// Transient: one value per session (SSO again: the same), another in a new session.
			u2, req2 := ts.redirectRequest(t, "", tc.req)
			p2, _ := b.follow(e, b.get(u2), u2)
			action, vals = form(t, p2.body)
			if a2 := ts.consume(t, action, vals, req2); a2.Subject.NameID.Value != a.Subject.NameID.Value {
				t.Errorf("transient NameID changed within the session: %q, %q", a.Subject.NameID.Value, a2.Subject.NameID.Value)
			}
			b2 := e.browser()
			u3, req3 := ts.redirectRequest(t, "", tc.req)
			action, vals = e.samlLogin(b2, b2.get(u3), u3, true)
			if a3 := ts.consume(t, action, vals, req3); a3.Subject.NameID.Value == a.Subject.NameID.Value {
				t.Error("transient NameID reused in another session")
			}
		})
	}
}

func authnContext(comparison string, classes ...string) func(*saml.AuthnRequest) {
	return func(r *saml.AuthnRequest) {
		r.RequestedAuthnContext = &saml.RequestedAuthnContext{Comparison: comparison, AuthnContextClassRefs: classes}
	}
}

// Attack (issue 12.10): RequestedAuthnContext was not enforced, so an SP requiring
// multi-factor (REFEDS MFA) got a password-only login asserted with Success; a class
// Gatehouse cannot produce must get NoAuthnContext (saml-core 3.3.2.2.1), and an MFA class
// must trigger the second factor as OIDC acr_values do.
func TestSAMLRequestedAuthnContext(t *testing.T) {
	const ppt = samlidp.ClassPasswordProtectedTransport
	const smartcard = "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard"
	const custom = "urn:example:mfa-please"
	for _, tc := range []struct {
		name string
		// noMFA: the MFA step is not configured.
		noMFA      bool
		req        func(*saml.AuthnRequest)
		spPolicy   mfa.Policy
		wantMFA    bool
		wantStatus string
		wantClass  string
	}{
		{"exact refeds mfa: second factor", false, authnContext("exact", samlidp.ClassMFA), "", true, "", samlidp.ClassMFA},
		{"default comparison refeds mfa", false, authnContext("", samlidp.ClassMFA), "", true, "", samlidp.ClassMFA},
		{"configured mfa class", false, authnContext("exact", custom), "", true, "", custom},
		{"minimum refeds mfa", false, authnContext("minimum", samlidp.ClassMFA), "", true, "", samlidp.ClassMFA},
		{"minimum ppt: a password", false, authnContext("minimum", ppt), "", false, "", ppt},
		{"minimum smartcard: stronger than a password", false, authnContext("minimum", smartcard), "", true, "", samlidp.ClassMFA},
		{"exact ppt", false, authnContext("exact", ppt), "", false, "", ppt},
		{"exact ppt, sp requires mfa: ppt asserted", false, authnContext("exact", ppt), mfa.Required, true, "", ppt},
		{"maximum ppt, sp requires mfa", false, authnContext("maximum", ppt), mfa.Required, true, "", ppt},
		{"exact smartcard: cannot", false, authnContext("exact", smartcard), "", false, samlidp.StatusNoAuthnContext, ""},
		{"exact unknown class: cannot", false, authnContext("exact", "urn:example:retina"), "", false, samlidp.StatusNoAuthnContext, ""},
		{"mfa without the MFA step: cannot", true, authnContext("exact", samlidp.ClassMFA), "", false, samlidp.StatusNoAuthnContext, ""},
		{"sp requires mfa, no request", false, nil, mfa.Required, true, "", samlidp.ClassMFA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSP(t, true)
			sp := spConfig("wiki", ts, func(c *config.ServiceProvider) {
				c.Trusted = true
				c.MFAClasses = []string{custom}
			})
			var policies map[string]mfa.Policy
			if !tc.noMFA {
				policies = map[string]mfa.Policy{"saml:wiki": tc.spPolicy}
			}
			e := newSAMLEnvMFA(t, policies, sp)
			e.trust(ts)
			b := e.browser()
			u, reqID := ts.redirectRequest(t, "", tc.req)
			p, _ := b.follow(e, b.get(u), u)
			if tc.wantStatus != "" {
				if !strings.Contains(p.body, "SAMLResponse") {
					t.Fatalf("want an error Response at once, got %d\n%s", p.status, p.body)
				}
				_, vals := form(t, p.body)
				if got := samlStatus(t, vals); got != tc.wantStatus {
					t.Fatalf("status %q, want %q", got, tc.wantStatus)
				}
				return
			}
			action, vals := form(t, p.body)
			vals.Set("username", "alice")
			vals.Set("password", alicePassword)
			p, at := b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
			if onMFA := strings.Contains(at, "/mfa?req="); onMFA != tc.wantMFA {
				t.Fatalf("second factor asked: %v, want %v (at %s, %d)\n%s", onMFA, tc.wantMFA, at, p.status, p.body)
			}
			if tc.wantMFA {
				p = enrolTOTPPage(t, e, b, p)
			}
			if !strings.Contains(p.body, "SAMLResponse") {
				t.Fatalf("want the Response, got %d\n%s", p.status, p.body)
			}
			action, vals = form(t, p.body)
			a := ts.consume(t, action, vals, reqID)
			if got := a.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value; got != tc.wantClass {
				t.Fatalf("AuthnContextClassRef %q, want %q", got, tc.wantClass)
			}
		})
	}
}

// TestSAMLAuthnContextStepUp: an SSO session without a second factor is stepped up when an
// SP asks for REFEDS MFA; with IsPassive it gets NoPassive instead.
func TestSAMLAuthnContextStepUp(t *testing.T) {
	ts := newTestSP(t, true)
	e := newSAMLEnvMFA(t, map[string]mfa.Policy{}, spConfig("wiki", ts, func(c *config.ServiceProvider) { c.Trusted = true }))
	e.trust(ts)
	b := e.browser()
	u, reqID := ts.redirectRequest(t, "", nil)
	action, vals := e.samlLogin(b, b.get(u), u, true)
	if a := ts.consume(t, action, vals, reqID); a.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value != samlidp.ClassPasswordProtectedTransport {
		t.Fatalf("first login asserted %q", a.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value)
	}
	passive := func(r *saml.AuthnRequest) {
		authnContext("exact", samlidp.ClassMFA)(r)
		yes := true
		r.IsPassive = &yes
	}
	u, _ = ts.redirectRequest(t, "", passive)
	p, _ := b.follow(e, b.get(u), u)
	_, vals = form(t, p.body)
	if got := samlStatus(t, vals); got != samlidp.StatusNoPassive {
		t.Fatalf("passive step-up: status %q", got)
	}
	u, reqID = ts.redirectRequest(t, "", authnContext("exact", samlidp.ClassMFA))
	p, at := b.follow(e, b.get(u), u)
	if !strings.Contains(at, "/mfa?req=") || strings.Contains(p.body, `name="password"`) {
		t.Fatalf("expected the MFA step without a password, got %d at %s\n%s", p.status, at, p.body)
	}
	p = enrolTOTPPage(t, e, b, p)
	action, vals = form(t, p.body)
	if a := ts.consume(t, action, vals, reqID); a.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value != samlidp.ClassMFA {
		t.Fatalf("step-up asserted %q", a.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value)
	}
}

// enrolTOTPPage enrols a TOTP factor on the enrolment page p and returns the page after the
// recovery codes (the form to the ACS).
func enrolTOTPPage(t *testing.T, e *env, b *browser, p page) page {
	t.Helper()
	m := secretRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no enrolment page:\n%s", p.body)
	}
	submit := func(p page, action string, fields map[string]string) page {
		to, vals := formWith(t, p.body, action)
		for k, v := range fields {
			vals.Set(k, v)
		}
		return b.post(e.issuer+to, vals)
	}
	p = submit(p, "enrol-totp", map[string]string{"code": totpCode(t, m[1], e.clock.Now()), "name": "Phone"})
	if p.status != http.StatusOK {
		t.Fatalf("enrolment: %d\n%s", p.status, p.body)
	}
	p = submit(p, "continue", nil)
	p, _ = b.follow(e, p, e.issuer+"/mfa")
	return p
}
