package saml_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	gsaml "github.com/gatehouse-id/gatehouse/connectors/saml"
)

// Attack (issue 12.3): a client demands re-authentication (prompt=login, max_age, or an SP's
// ForceAuthn through the SAML IdP), the upstream SAML IdP was not told (no ForceAuthn) and
// answered from its old session, and Gatehouse issued a fresh auth_time. The AuthnRequest
// must carry ForceAuthn="true" (still validly signed) and the assertion's AuthnInstant must
// prove the fresh authentication, else the login fails with ErrLoginRequired.
func TestForceAuthnAndAuthnInstant(t *testing.T) {
	for _, tc := range []struct {
		name string
		idp  idpOptions
		sp   spOptions
	}{
		{name: "redirect binding"},
		{name: "signed POST binding", idp: idpOptions{postOnly: true, wantSignedAuthnR: true},
			sp: spOptions{withKey: true, mutate: func(c *gsaml.Config) { c.SignRequests = true }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ti := newIdP(t, tc.idp)
			s := newSP(t, ti, tc.sp)
			for _, sub := range []struct {
				name      string
				notBefore time.Time
				wantErr   bool
			}{
				{"fresh AuthnInstant", time.Now().Add(-time.Minute), false},
				{"AuthnInstant before the demand", time.Now().Add(time.Hour), true},
			} {
				ra := connectors.Reauth{Force: true, NotBefore: sub.notBefore}
				step, err := s.conn.Begin(context.Background(), connectors.BeginRequest{CallbackURL: s.callback, State: "st", Reauth: ra})
				if err != nil {
					t.Fatalf("Begin: %v", err)
				}
				if req := authnRequestXML(t, step); !strings.Contains(req, `ForceAuthn="true"`) {
					t.Fatalf("%s: AuthnRequest without ForceAuthn=\"true\":\n%s", sub.name, req)
				}
				action, vals := idpLogin(t, newBrowser(t), step, alicePassword)
				up, err := s.conn.Finish(context.Background(), connectors.FinishRequest{CallbackURL: s.callback, State: "st", Stash: step.Stash, Reauth: ra}, acsRequest(action, vals))
				switch {
				case sub.wantErr && !errors.Is(err, connectors.ErrLoginRequired):
					t.Fatalf("%s: Finish err = %v, want ErrLoginRequired", sub.name, err)
				case !sub.wantErr && err != nil:
					t.Fatalf("%s: Finish: %v\n%s", sub.name, err, s.logs)
				case !sub.wantErr && up.AuthTime.IsZero():
					t.Fatalf("%s: no AuthTime from the AuthnInstant", sub.name)
				}
			}
			// Without a demand, no ForceAuthn is sent.
			step, err := s.conn.Begin(context.Background(), connectors.BeginRequest{CallbackURL: s.callback, State: "st"})
			if err != nil {
				t.Fatal(err)
			}
			if req := authnRequestXML(t, step); strings.Contains(req, `ForceAuthn="true"`) {
				t.Fatalf("ForceAuthn without a demand:\n%s", req)
			}
		})
	}
}

// authnRequestXML decodes the AuthnRequest of a Begin step (HTTP-Redirect or HTTP-POST).
func authnRequestXML(t *testing.T, step connectors.Step) string {
	t.Helper()
	if step.PostForm != nil {
		b, err := base64.StdEncoding.DecodeString(step.PostForm["SAMLRequest"])
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	u, err := url.Parse(step.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(u.Query().Get("SAMLRequest"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	return string(x)
}
