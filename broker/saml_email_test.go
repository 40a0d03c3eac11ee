package broker_test

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/config"
)

// Attack (issue 12.1): the local user mallory has email alice@example.com with
// email_verified false. Before the fix, an emailAddress SP got NameID alice@example.com and
// every SP got a mail attribute alice@example.com, so a strict SP signed mallory in as alice.
// Now an emailAddress NameID needs a verified email (else InvalidNameIDPolicy), an email
// attribute is left out when the email is unverified, and email_verified says so.
func TestSAMLUnverifiedEmailNotAsserted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format string
		user   string
		// wantStatus is the second-level status ("" for Success).
		wantStatus string
		wantMail   string
		wantVerif  string
	}{
		{"emailAddress NameID, unverified", "emailAddress", "mallory", samlidp.StatusInvalidNameIDPolicy, "", ""},
		{"persistent NameID, unverified: no mail attribute", "persistent", "mallory", "", "", "false"},
		{"emailAddress NameID, verified", "emailAddress", "alice", "", "alice@example.com", "true"},
		{"persistent NameID, verified", "persistent", "alice", "", "alice@example.com", "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestSP(t, true)
			e := newSAMLEnv(t, spConfig("wiki", ts, func(c *config.ServiceProvider) {
				c.Trusted, c.NameIDFormat = true, tc.format
				c.Attributes = map[string]string{"mail": "email", "displayName": "name"}
			}))
			e.trust(ts)
			b := e.browser()
			u, reqID := ts.redirectRequest(t, "", func(r *saml.AuthnRequest) { r.NameIDPolicy = nil })
			action, vals := e.samlLoginAs(b, b.get(u), u, tc.user, true)
			raw, _ := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
			if tc.wantStatus != "" {
				if !bytes.Contains(raw, []byte(tc.wantStatus)) || bytes.Contains(raw, []byte("alice@example.com")) || bytes.Contains(raw, []byte("<saml:Assertion")) {
					t.Fatalf("want status %s and no assertion:\n%s", tc.wantStatus, raw)
				}
				return
			}
			a := ts.consume(t, action, vals, reqID)
			if tc.user == "mallory" && bytes.Contains(raw, []byte("alice@example.com")) {
				t.Fatalf("mallory's unverified alice@example.com left Gatehouse:\n%s", raw)
			}
			if tc.format == "emailAddress" && a.Subject.NameID.Value != tc.wantMail {
				t.Errorf("NameID = %q", a.Subject.NameID.Value)
			}
			if got := attrValues(a, "mail"); tc.wantMail == "" && len(got) != 0 || tc.wantMail != "" && (len(got) != 1 || got[0] != tc.wantMail) {
				t.Errorf("mail = %q, want %q", got, tc.wantMail)
			}
			if got := attrValues(a, "email_verified"); len(got) != 1 || got[0] != tc.wantVerif {
				t.Errorf("email_verified = %q, want %q", got, tc.wantVerif)
			}
		})
	}
}
