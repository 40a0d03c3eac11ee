package saml_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	csaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/connectors"
	gsaml "github.com/gatehouse-id/gatehouse/connectors/saml"
)

func TestLoginFlow(t *testing.T) {
	tests := []struct {
		name      string
		idp       idpOptions
		sp        spOptions
		wantPost  bool // Begin answers with an auto-post form
		encrypted bool
		wantACR   string
		wantMFA   bool
	}{
		{name: "redirect binding, signed response and assertion", idp: idpOptions{authnContext: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
			wantACR: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
		{name: "encrypted assertion", sp: spOptions{withKey: true}, encrypted: true,
			wantACR: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
		{name: "IdP with only the POST binding, signed AuthnRequest", idp: idpOptions{postOnly: true, wantSignedAuthnR: true},
			sp:       spOptions{withKey: true, mutate: func(c *gsaml.Config) { c.SignRequests = true }},
			wantPost: true, encrypted: true, wantACR: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
		{name: "MFA authentication context", idp: idpOptions{authnContext: "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"},
			wantACR: "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract", wantMFA: true},
		{name: "emailAddress NameID", idp: idpOptions{nameIDFormat: csaml.EmailAddressNameIDFormat},
			sp:      spOptions{mutate: func(c *gsaml.Config) { c.NameIDFormat = "emailAddress" }},
			wantACR: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
		{name: "transient NameID with a subject attribute", idp: idpOptions{nameIDFormat: csaml.TransientNameIDFormat},
			sp: spOptions{mutate: func(c *gsaml.Config) {
				c.NameIDFormat = "transient"
				c.Attributes.Subject = "employeeNumber"
			}},
			wantACR: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ti := newIdP(t, tc.idp)
			s := newSP(t, ti, tc.sp)
			b := newBrowser(t)
			before := time.Now().Add(-time.Second)
			step, err := s.conn.Begin(context.Background(), connectors.BeginRequest{CallbackURL: s.callback, State: "state-1"})
			if err != nil {
				t.Fatalf("Begin: %v", err)
			}
			if got := step.PostForm != nil; got != tc.wantPost {
				t.Fatalf("post form = %v, want %v (step %+v)", got, tc.wantPost, step)
			}
			if tc.wantPost {
				if step.PostForm["RelayState"] != "state-1" || step.PostForm["SAMLRequest"] == "" {
					t.Fatalf("post form = %v", step.PostForm)
				}
			} else {
				u, _ := url.Parse(step.URL)
				if u.Query().Get("RelayState") != "state-1" || u.Query().Get("SAMLRequest") == "" {
					t.Fatalf("redirect URL = %s", step.URL)
				}
			}
			action, vals := idpLogin(t, b, step, alicePassword)
			if action != s.callback {
				t.Fatalf("IdP posts to %s, want the callback %s", action, s.callback)
			}
			doc := decodeResponse(t, vals)
			hasEnc := doc.FindElement("//EncryptedAssertion") != nil
			if hasEnc != tc.encrypted {
				t.Fatalf("EncryptedAssertion present = %v, want %v", hasEnc, tc.encrypted)
			}
			up, err := s.finish("state-1", step.Stash, action, vals)
			if err != nil {
				t.Fatalf("Finish: %v\nlogs:\n%s", err, s.logs)
			}
			wantSub := aliceSubject
			switch tc.idp.nameIDFormat {
			case csaml.EmailAddressNameIDFormat:
				wantSub = "alice@example.com"
			case csaml.TransientNameIDFormat:
				wantSub = "E-42"
			}
			if up.Subject != wantSub {
				t.Errorf("Subject = %q, want %q", up.Subject, wantSub)
			}
			if up.Email != "alice@example.com" || !up.EmailVerified || up.Name != "Alice Example" || up.Username != "alice" {
				t.Errorf("identity = %+v", up)
			}
			if !slices.Equal(up.Groups, []string{"admins", "staff"}) {
				t.Errorf("Groups = %v", up.Groups)
			}
			if up.ACR != tc.wantACR {
				t.Errorf("ACR = %q, want %q", up.ACR, tc.wantACR)
			}
			wantAMR := []string{"fed"}
			if tc.wantMFA {
				wantAMR = append(wantAMR, "mfa")
			}
			if !slices.Equal(up.AMR, wantAMR) {
				t.Errorf("AMR = %v, want %v", up.AMR, wantAMR)
			}
			if up.AuthTime.Before(before) || up.AuthTime.After(time.Now().Add(time.Second)) {
				t.Errorf("AuthTime = %v", up.AuthTime)
			}
			if got := up.Attrs["employeeNumber"]; !slices.Equal(got, []string{"E-42"}) {
				t.Errorf("Attrs[employeeNumber] = %v", got)
			}
			if got := up.Attrs["mail"]; !slices.Equal(got, []string{"alice@example.com"}) {
				t.Errorf("Attrs[mail] (by FriendlyName) = %v", got)
			}
		})
	}
}

// TestSignedRedirectRequest checks that a signed HTTP-Redirect AuthnRequest is verified by
// an IdP that requires signed requests, and that a tampered signature is refused.
func TestSignedRedirectRequest(t *testing.T) {
	t.Parallel()
	ti := newIdP(t, idpOptions{wantSignedAuthnR: true})
	s := newSP(t, ti, spOptions{withKey: true, mutate: func(c *gsaml.Config) { c.SignRequests = true }})
	b := newBrowser(t)
	// An IdP session first (the login form re-posts the request with the POST binding,
	// which drops the redirect binding's query signature).
	p := b.post(ti.srv.URL+"/login", url.Values{"user": {"alice"}, "password": {alicePassword}})
	if p.status != 200 {
		t.Fatalf("IdP login: %d %s", p.status, p.body)
	}
	step, err := s.conn.Begin(context.Background(), connectors.BeginRequest{CallbackURL: s.callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(step.URL)
	q := u.Query()
	if q.Get("SigAlg") == "" || q.Get("Signature") == "" {
		t.Fatalf("redirect URL is not signed: %s", step.URL)
	}
	// Tampered signature: the IdP refuses.
	bad := *u
	bq := u.Query()
	sig := []byte(bq.Get("Signature"))
	sig[10] ^= 1
	bq.Set("Signature", string(sig))
	bad.RawQuery = bq.Encode()
	if p := b.get(bad.String()); p.status == 200 && strings.Contains(p.body, "SAMLResponse") {
		t.Fatalf("IdP accepted a tampered signature")
	}
	action, vals := idpLogin(t, b, step, alicePassword)
	up, err := s.finish("st", step.Stash, action, vals)
	if err != nil {
		t.Fatalf("Finish: %v\n%s", err, s.logs)
	}
	if up.Subject != aliceSubject {
		t.Errorf("Subject = %q", up.Subject)
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	ti := newIdP(t, idpOptions{})
	s := newSP(t, ti, spOptions{withKey: true, mutate: func(c *gsaml.Config) { c.SignRequests = true }, noRegister: true})
	md, err := s.conn.Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ed csaml.EntityDescriptor
	if err := xmlUnmarshal(md, &ed); err != nil {
		t.Fatal(err)
	}
	if ed.EntityID != "http://127.0.0.1:5556/saml/sp/okta/metadata" || s.conn.EntityID() != ed.EntityID {
		t.Errorf("EntityID = %q", ed.EntityID)
	}
	d := ed.SPSSODescriptors[0]
	if len(d.AssertionConsumerServices) != 1 || d.AssertionConsumerServices[0].Location != s.callback ||
		d.AssertionConsumerServices[0].Binding != csaml.HTTPPostBinding {
		t.Errorf("ACS = %+v", d.AssertionConsumerServices)
	}
	if d.AuthnRequestsSigned == nil || !*d.AuthnRequestsSigned || d.WantAssertionsSigned == nil || !*d.WantAssertionsSigned {
		t.Errorf("AuthnRequestsSigned/WantAssertionsSigned not set")
	}
	var uses []string
	for _, kd := range d.KeyDescriptors {
		uses = append(uses, kd.Use)
	}
	slices.Sort(uses)
	if !slices.Equal(uses, []string{"encryption", "signing"}) {
		t.Errorf("key uses = %v", uses)
	}
	if d.NameIDFormats[0] != csaml.PersistentNameIDFormat {
		t.Errorf("NameIDFormat = %v", d.NameIDFormats)
	}
}

// refused asserts that Finish failed with a safe message and, optionally, a crewjam kind.
func refused(t *testing.T, s *sp, err error, kind error, wantReason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Finish accepted the response")
	}
	var re *gsaml.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %T %v is not a *ResponseError", err, err)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error does not match %v; logs:\n%s", kind, s.logs)
	}
	if wantReason != "" && !strings.Contains(re.Error(), wantReason) {
		t.Errorf("message %q does not contain %q", re.Error(), wantReason)
	}
	msg := err.Error()
	if strings.Contains(msg, "<") || strings.Contains(msg, "Assertion") || len(msg) > 120 {
		t.Errorf("message %q leaks detail", msg)
	}
	if testing.Verbose() {
		t.Logf("refused: %v\n%s", err, s.logs)
	}
	if !strings.Contains(s.logs.String(), "response refused") {
		t.Errorf("refusal not logged")
	}
}

func TestAttacks(t *testing.T) {
	tests := []struct {
		name   string
		sp     spOptions
		idp    idpOptions
		attack func(t *testing.T, ti *testIdP, s *sp, b *browser) error
		kind   error
		reason string
	}{
		{name: "attribute changed after signing", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, step := s.login(t, b, "st")
			doc := decodeResponse(t, vals)
			for _, v := range doc.FindElements("//AttributeValue") {
				if v.Text() == "staff" {
					v.SetText("root")
				}
			}
			return s.finishErr("st", step.Stash, action, withResponse(t, vals, doc))
		}, kind: csaml.ErrInvalidSignature, reason: "not validly signed"},
		{name: "unsigned response and assertion", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, step := s.login(t, b, "st")
			doc := decodeResponse(t, vals)
			removeSignature(doc.Root())
			removeSignature(doc.Root().SelectElement("Assertion"))
			return s.finishErr("st", step.Stash, action, withResponse(t, vals, doc))
		}, reason: "not signed"},
		{name: "signed by an unknown key", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, step := s.login(t, b, "st")
			doc := decodeResponse(t, vals)
			root := doc.Root()
			removeSignature(root)
			a := root.SelectElement("Assertion")
			removeSignature(a)
			root.RemoveChild(a)
			root.AddChild(signWith(t, "evil", a))
			doc.SetRoot(signWith(t, "evil", root))
			return s.finishErr("st", step.Stash, action, withResponse(t, vals, doc))
		}, kind: csaml.ErrInvalidSignature, reason: "not validly signed"},
		{name: "wrapping: unsigned assertion injected beside the signed one", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, step := s.login(t, b, "st")
			doc := decodeResponse(t, vals)
			root := doc.Root()
			removeSignature(root) // the Response signature would break anyway
			orig := root.SelectElement("Assertion")
			evil := orig.Copy()
			removeSignature(evil)
			evil.CreateAttr("ID", "id-evil")
			evil.FindElement(".//NameID").SetText("admin")
			root.InsertChildAt(orig.Index(), evil)
			return s.finishErr("st", step.Stash, action, withResponse(t, vals, doc))
		}, kind: csaml.ErrMalformedMessage},
		{name: "wrapping: evil assertion carrying the signed one", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, step := s.login(t, b, "st")
			doc := decodeResponse(t, vals)
			root := doc.Root()
			removeSignature(root)
			orig := root.SelectElement("Assertion")
			evil := orig.Copy()
			evil.CreateAttr("ID", "id-evil")
			evil.FindElement(".//NameID").SetText("admin")
			// keep the original signature in the evil assertion, and hide the signed
			// original inside it
			root.RemoveChild(orig)
			evil.FindElement("./Subject").AddChild(orig)
			root.AddChild(evil)
			return s.finishErr("st", step.Stash, action, withResponse(t, vals, doc))
		}, kind: csaml.ErrInvalidSignature},
		{name: "wrapping: signed response moved, evil response around it", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, step := s.login(t, b, "st")
			doc := decodeResponse(t, vals)
			orig := doc.Root()
			evil := orig.Copy()
			evil.CreateAttr("ID", "id-evil-resp")
			a := evil.SelectElement("Assertion")
			removeSignature(a)
			a.FindElement(".//NameID").SetText("admin")
			ext := evil.CreateElement("samlp:Extensions")
			ext.AddChild(orig)
			nd := etree.NewDocument()
			nd.SetRoot(evil)
			return s.finishErr("st", step.Stash, action, withResponse(t, vals, nd))
		}},
		{name: "wrong audience", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			// another SP with the same ACS but another entity ID
			other := newSP(t, ti, spOptions{registerAs: "other", mutate: func(c *gsaml.Config) { c.EntityID = "urn:other-sp" }})
			action, vals, step := other.login(t, b, "st")
			return s.finishErr("st", step.Stash, action, vals)
		}, kind: csaml.ErrAudienceMismatch, reason: "meant for another service"},
		{name: "wrong Destination", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			other := newSP(t, ti, spOptions{registerAs: "other", issuer: "http://127.0.0.1:7777", mutate: func(c *gsaml.Config) { c.EntityID = "urn:other-sp" }})
			action, vals, step := other.login(t, b, "st")
			return s.finishErr("st", step.Stash, action, vals)
		}, kind: csaml.ErrDestinationMismatch, reason: "meant for another service"},
		{name: "expired", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, step := s.login(t, b, "st")
			s.clock.Set(10 * time.Minute)
			return s.finishErr("st", step.Stash, action, vals)
		}, kind: csaml.ErrExpired, reason: "expired"},
		{name: "SP clock behind by more than the allowed skew", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, step := s.login(t, b, "st")
			s.clock.Set(-100 * time.Second)
			return s.finishErr("st", step.Stash, action, vals)
		}, reason: "expired or is not yet valid"},
		{name: "InResponseTo of another login", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, _ := s.login(t, b, "st")
			other, err := s.conn.Begin(context.Background(), connectors.BeginRequest{CallbackURL: s.callback, State: "st"})
			if err != nil {
				t.Fatal(err)
			}
			return s.finishErr("st", other.Stash, action, vals)
		}, kind: csaml.ErrRequestIDMismatch, reason: "does not belong to this sign-in"},
		{name: "RelayState of another login", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, step := s.login(t, b, "st")
			return s.finishErr("other-state", step.Stash, action, vals)
		}, reason: "does not belong to this sign-in"},
		{name: "replayed response", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, step := s.login(t, b, "st")
			if _, err := s.finish("st", step.Stash, action, vals); err != nil {
				t.Fatalf("first Finish: %v\n%s", err, s.logs)
			}
			return s.finishErr("st", step.Stash, action, vals)
		}, kind: csaml.ErrAssertionReplayed, reason: "already used"},
		{name: "IdP-initiated response when not allowed", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals := idpInitiated(t, ti, b, s)
			step, err := s.conn.Begin(context.Background(), connectors.BeginRequest{CallbackURL: s.callback, State: "st"})
			if err != nil {
				t.Fatal(err)
			}
			vals.Set("RelayState", "st")
			return s.finishErr("st", step.Stash, action, vals)
		}, kind: csaml.ErrRequestIDMismatch, reason: "does not belong to this sign-in"},
		{name: "IdP-initiated response without a login", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals := idpInitiated(t, ti, b, s)
			vals.Set("RelayState", "st")
			return s.finishErr("st", nil, action, vals)
		}, reason: "does not belong to a sign-in"},
		{name: "encrypted assertion for an SP without a key", sp: spOptions{registerAs: "keyless"}, attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			// The IdP knows this SP by metadata that has an encryption key (another SP
			// instance with the key, same entity ID and ACS).
			keyed := newSP(t, ti, spOptions{withKey: true})
			action, vals, step := keyed.login(t, b, "st")
			return s.finishErr("st", step.Stash, action, vals)
		}, kind: csaml.ErrDecryptionFailed, reason: "could not be decrypted"},
		{name: "transient NameID without a subject attribute", idp: idpOptions{nameIDFormat: csaml.TransientNameIDFormat},
			sp: spOptions{mutate: func(c *gsaml.Config) { c.NameIDFormat = "unspecified" }},
			attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
				action, vals, step := s.login(t, b, "st")
				return s.finishErr("st", step.Stash, action, vals)
			}, reason: "usable user ID"},
		{name: "artifact binding", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			step, err := s.conn.Begin(context.Background(), connectors.BeginRequest{CallbackURL: s.callback, State: "st"})
			if err != nil {
				t.Fatal(err)
			}
			return s.finishErr("st", step.Stash, s.callback, url.Values{"SAMLart": {"AAQAA"}, "RelayState": {"st"}})
		}, reason: "Artifact"},
		{name: "damaged stash", attack: func(t *testing.T, ti *testIdP, s *sp, b *browser) error {
			action, vals, _ := s.login(t, b, "st")
			return s.finishErr("st", []byte("{"), action, vals)
		}, reason: "damaged"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ti := newIdP(t, tc.idp)
			s := newSP(t, ti, tc.sp)
			b := newBrowser(t)
			err := tc.attack(t, ti, s, b)
			refused(t, s, err, tc.kind, tc.reason)
		})
	}
}

func (s *sp) finishErr(state string, stash []byte, action string, vals url.Values) error {
	up, err := s.finish(state, stash, action, vals)
	if err == nil {
		return errors.New("accepted: " + up.Subject)
	}
	return err
}

// idpInitiated logs in at the IdP and returns its unsolicited Response form for s.
func idpInitiated(t *testing.T, ti *testIdP, b *browser, s *sp) (string, url.Values) {
	t.Helper()
	p := b.post(ti.srv.URL+"/idp-init", url.Values{"user": {"alice"}, "password": {alicePassword}, "sp": {s.conn.EntityID()}, "RelayState": {"x"}})
	if p.status != 200 {
		t.Fatalf("IdP-initiated: %d %s", p.status, p.body)
	}
	return parseForm(t, p.body)
}

func TestIDPInitiatedAllowed(t *testing.T) {
	t.Parallel()
	ti := newIdP(t, idpOptions{})
	s := newSP(t, ti, spOptions{mutate: func(c *gsaml.Config) { c.AllowIDPInitiated = true }})
	b := newBrowser(t)
	action, vals := idpInitiated(t, ti, b, s)
	up, err := s.finish("x", nil, action, vals)
	if err != nil {
		t.Fatalf("Finish: %v\n%s", err, s.logs)
	}
	if up.Subject != aliceSubject {
		t.Errorf("Subject = %q", up.Subject)
	}
	// ...but still once only.
	if _, err := s.finish("x", nil, action, vals); err == nil {
		t.Fatal("replayed IdP-initiated response accepted")
	}
}

// TestCommentInNameID: a comment inside the signed NameID does not break the signature
// (exclusive C14N drops comments), so it must not truncate the subject either.
func TestCommentInNameID(t *testing.T) {
	t.Parallel()
	ti := newIdP(t, idpOptions{})
	s := newSP(t, ti, spOptions{})
	b := newBrowser(t)
	action, vals, step := s.login(t, b, "st")
	raw := decodeResponse(t, vals)
	xmlBytes, err := raw.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(xmlBytes), ">"+aliceSubject+"<", ">alice<!---->-0001<", 1)
	if tampered == string(xmlBytes) {
		t.Fatal("NameID not found")
	}
	up, err := s.finish("st", step.Stash, action, withRaw(vals, []byte(tampered)))
	if err == nil && up.Subject != aliceSubject {
		t.Fatalf("comment truncated the subject: %q", up.Subject)
	}
	t.Logf("Finish with a comment in the NameID: subject %q, err %v", up.Subject, err)
}

// TestMetadataUnavailable: an IdP that is down does not stop Open, and Begin reports an
// UpstreamError; once the IdP is up, logins work.
func TestMetadataUnavailable(t *testing.T) {
	t.Parallel()
	ti := newIdP(t, idpOptions{})
	s := newSP(t, ti, spOptions{metadataURL: "http://127.0.0.1:1/metadata", noRegister: true})
	_, err := s.conn.Begin(context.Background(), connectors.BeginRequest{CallbackURL: s.callback, State: "st"})
	var ue *connectors.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("Begin error = %v, want *UpstreamError", err)
	}
	if err := s.conn.Check(context.Background()); err == nil {
		t.Fatal("Check succeeded")
	}
}

func TestStashIsRequestID(t *testing.T) {
	t.Parallel()
	ti := newIdP(t, idpOptions{})
	s := newSP(t, ti, spOptions{noRegister: true})
	step, err := s.conn.Begin(context.Background(), connectors.BeginRequest{CallbackURL: s.callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		RID string `json:"rid"`
	}
	if err := json.Unmarshal(step.Stash, &st); err != nil || !strings.HasPrefix(st.RID, "id-") {
		t.Fatalf("stash %q: %v", step.Stash, err)
	}
}

// TestIDPDescribedWithoutMetadataURL logs in with the IdP given as a metadata file, and as
// idp_sso_url + idp_entity_id + idp_certs.
func TestIDPDescribedWithoutMetadataURL(t *testing.T) {
	ti := newIdP(t, idpOptions{})
	md := newBrowser(t).get(ti.metadataURL())
	file := t.TempDir() + "/idp.xml"
	if err := os.WriteFile(file, []byte(md.body), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(c *gsaml.Config)
	}{
		{name: "metadata file", mutate: func(c *gsaml.Config) {
			c.IDPMetadataURL, c.IDPMetadataFile = "", file
		}},
		{name: "SSO URL, entity ID and certificates", mutate: func(c *gsaml.Config) {
			c.IDPMetadataURL = ""
			c.IDPSSOURL, c.IDPEntityID = ti.srv.URL+"/sso", ti.metadataURL()
			c.IDPCerts = []string{"testdata/evil.crt", "testdata/idp.crt"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSP(t, ti, spOptions{mutate: tc.mutate})
			action, vals, step := s.login(t, newBrowser(t), "st")
			up, err := s.finish("st", step.Stash, action, vals)
			if err != nil {
				t.Fatalf("Finish: %v\n%s", err, s.logs)
			}
			if up.Subject != aliceSubject {
				t.Errorf("Subject = %q", up.Subject)
			}
		})
	}
	// Only the evil certificate trusted: the IdP's signatures are refused.
	s := newSP(t, ti, spOptions{mutate: func(c *gsaml.Config) {
		c.IDPMetadataURL = ""
		c.IDPSSOURL, c.IDPEntityID = ti.srv.URL+"/sso", ti.metadataURL()
		c.IDPCerts = []string{"testdata/evil.crt"}
	}})
	action, vals, step := s.login(t, newBrowser(t), "st")
	_, err := s.finish("st", step.Stash, action, vals)
	refused(t, s, err, csaml.ErrInvalidSignature, "not validly signed")
}

// TestTrustEmail logs alice in with trust_email off, on, and under its deprecated name: the
// asserted email is verified only when the connector says to trust the IdP's email (issue
// 12.2); VerifiesEmail tells the config check the same.
func TestTrustEmail(t *testing.T) {
	ti := newIdP(t, idpOptions{})
	for _, tt := range []struct {
		name   string
		mutate func(*gsaml.Config)
		want   bool
	}{
		{"default", func(c *gsaml.Config) { c.TrustEmail = false }, false},
		{"trust_email", func(c *gsaml.Config) { c.TrustEmail = true }, true},
		{"email_verified (deprecated name)", func(c *gsaml.Config) { c.TrustEmail, c.EmailVerified = false, true }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var cfg gsaml.Config
			s := newSP(t, ti, spOptions{mutate: func(c *gsaml.Config) { tt.mutate(c); cfg = *c }})
			action, vals, step := s.login(t, newBrowser(t), "state-trust")
			up, err := s.finish("state-trust", step.Stash, action, vals)
			if err != nil {
				t.Fatalf("Finish: %v\nlogs:\n%s", err, s.logs)
			}
			if up.Email != "alice@example.com" || up.EmailVerified != tt.want {
				t.Errorf("email %q verified = %v, want %v", up.Email, up.EmailVerified, tt.want)
			}
			if ok, key := cfg.VerifiesEmail(); ok != tt.want || key != "trust_email" {
				t.Errorf("VerifiesEmail() = %v, %q", ok, key)
			}
		})
	}
}
