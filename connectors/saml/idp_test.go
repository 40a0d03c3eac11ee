package saml_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"html"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	csaml "github.com/crewjam/saml"
	"github.com/crewjam/saml/samlidp"
	dsig "github.com/russellhaering/goxmldsig"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/connectors"
	gsaml "github.com/gatehouse-id/gatehouse/connectors/saml"
)

const (
	alicePassword = "alice-password-123"
	aliceSubject  = "alice-0001"
)

// testClock is an adjustable clock for the SP side.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
	fixed  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fixed.IsZero() {
		return c.fixed
	}
	return time.Now().Add(c.offset)
}

// Freeze stops the clock at its current time.
func (c *testClock) Freeze() {
	t := c.Now()
	c.mu.Lock()
	c.fixed = t
	c.mu.Unlock()
}

func (c *testClock) Set(d time.Duration) {
	c.mu.Lock()
	c.offset = d
	c.mu.Unlock()
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadKeyPair(t testing.TB, name string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	kb, _ := pem.Decode(readFile(t, name+".key"))
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := pem.Decode(readFile(t, name+".crt"))
	c, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey), c
}

// idpOptions configures the test IdP.
type idpOptions struct {
	nameIDFormat     csaml.NameIDFormat // default persistent
	authnContext     string
	postOnly         bool // metadata lists only the HTTP-POST SSO binding
	wantSignedAuthnR bool
}

// testIdP is a real crewjam/saml samlidp server on an httptest server (127.0.0.1).
type testIdP struct {
	t    testing.TB
	srv  *httptest.Server
	idp  *samlidp.Server
	opts idpOptions
}

// sessions wraps samlidp's session provider to issue the NameID format and attributes the
// tests want (samlidp alone issues emailAddress NameIDs and few attributes).
type sessions struct {
	inner *samlidp.Server
	opts  *idpOptions
}

func (s sessions) GetSession(w http.ResponseWriter, r *http.Request, req *csaml.IdpAuthnRequest) *csaml.Session {
	sess := s.inner.GetSession(w, r, req)
	if sess == nil {
		return nil
	}
	cp := *sess
	switch s.opts.nameIDFormat {
	case "", csaml.PersistentNameIDFormat:
		cp.NameID, cp.NameIDFormat = aliceSubject, string(csaml.PersistentNameIDFormat)
	case csaml.TransientNameIDFormat:
		cp.NameID, cp.NameIDFormat = "_tr"+sess.Index[:16], string(csaml.TransientNameIDFormat)
	default:
		cp.NameIDFormat = string(s.opts.nameIDFormat)
	}
	cp.AuthnContextClassRef = s.opts.authnContext
	// samlidp itself adds mail (urn:oid:0.9.2342.19200300.100.1.3, FriendlyName mail) and
	// eduPersonAffiliation (the groups).
	cp.CustomAttributes = []csaml.Attribute{
		{Name: "displayName", Values: []csaml.AttributeValue{{Type: "xs:string", Value: sess.UserCommonName}}},
		{Name: "uid", Values: []csaml.AttributeValue{{Type: "xs:string", Value: sess.UserName}}},
		{Name: "employeeNumber", Values: []csaml.AttributeValue{{Type: "xs:string", Value: "E-42"}}},
	}
	return &cp
}

// InvalidateSession ends the IdP sessions a valid LogoutRequest names (samlidp's own), so
// that the IdP takes single logout.
func (s sessions) InvalidateSession(w http.ResponseWriter, r *http.Request, req *csaml.IdpLogoutRequest) error {
	return s.inner.InvalidateSession(w, r, req)
}

// AddSessionParticipant and SessionParticipants let the IdP track which SPs took part in a
// session (samlidp's own), for its single logout.
func (s sessions) AddSessionParticipant(r *http.Request, session *csaml.Session, p csaml.SessionParticipant) error {
	return s.inner.AddSessionParticipant(r, session, p)
}

// SessionParticipants returns samlidp's participants of the sessions match selects.
func (s sessions) SessionParticipants(r *http.Request, match func(*csaml.Session) bool) ([]csaml.SessionParticipant, error) {
	return s.inner.SessionParticipants(r, match)
}

func newIdP(t testing.TB, opts idpOptions) *testIdP {
	t.Helper()
	key, cert := loadKeyPair(t, "idp")
	ti := &testIdP{t: t, opts: opts}
	ti.srv = httptest.NewServer(nil)
	t.Cleanup(ti.srv.Close)
	u, _ := url.Parse(ti.srv.URL)
	idp, err := samlidp.New(samlidp.Options{
		URL: *u, Key: key, Certificate: cert, Store: &samlidp.MemoryStore{},
		Logger: log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	idp.IDP.SessionProvider = sessions{inner: idp, opts: &ti.opts}
	idp.IDP.WantAuthnRequestsSigned = opts.wantSignedAuthnR
	ti.idp = idp
	hash, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.Store.Put("/users/alice", samlidp.User{
		Name: "alice", HashedPassword: hash, Groups: []string{"admins", "staff"},
		Email: "alice@example.com", CommonName: "Alice Example", GivenName: "Alice", Surname: "Example",
	}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metadata", func(w http.ResponseWriter, r *http.Request) {
		md := idp.IDP.Metadata()
		if ti.opts.postOnly {
			d := &md.IDPSSODescriptors[0]
			var keep []csaml.Endpoint
			for _, e := range d.SingleSignOnServices {
				if e.Binding == csaml.HTTPPostBinding {
					keep = append(keep, e)
				}
			}
			d.SingleSignOnServices = keep
		}
		buf, err := xmlMarshal(md)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.Write(buf)
	})
	// /idp-init/{sp} starts an IdP-initiated login for the SP entity ID in ?sp= (after a
	// POST of user and password).
	mux.HandleFunc("POST /idp-init", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		idp.IDP.ServeIDPInitiated(w, r, r.Form.Get("sp"), r.Form.Get("RelayState"))
	})
	mux.Handle("/", idp)
	ti.srv.Config.Handler = mux
	return ti
}

func (ti *testIdP) metadataURL() string { return ti.srv.URL + "/metadata" }

// register gives the IdP the SP's metadata.
func (ti *testIdP) register(name string, md []byte) {
	ti.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, ti.srv.URL+"/services/"+name, bytes.NewReader(md))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ti.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		ti.t.Fatalf("register SP: %s", resp.Status)
	}
}

// sp is an opened connector with its test plumbing.
type sp struct {
	conn     *gsaml.Connector
	callback string
	clock    *testClock
	logs     *bytes.Buffer
}

type spOptions struct {
	id          string
	issuer      string
	mutate      func(*gsaml.Config)
	noRegister  bool
	withKey     bool
	registerAs  string
	metadataURL string
	// replay is the shared replay cache passed in Deps (nil: the connector's own).
	replay connectors.ReplayCache
	// keys is the shared key store passed in Deps (nil: none).
	keys connectors.KeyStore
	// clock, if set, is the SP's clock (shared by replicas in a test).
	clock *testClock
	// upstreamLogout is the block's logout: upstream (the SP's single logout service).
	upstreamLogout bool
}

func newSP(t testing.TB, ti *testIdP, o spOptions) *sp {
	t.Helper()
	if o.id == "" {
		o.id = "okta"
	}
	if o.issuer == "" {
		o.issuer = "http://127.0.0.1:5556"
	}
	cfg := &gsaml.Config{
		IDPMetadataURL: ti.metadataURL(),
		Attributes:     gsaml.AttributeMap{Email: "mail", Name: "displayName", Username: "uid", Groups: "eduPersonAffiliation"},
		TrustEmail:     true,
	}
	if o.metadataURL != "" {
		cfg.IDPMetadataURL = o.metadataURL
	}
	if o.withKey {
		cfg.SPKey = filepath.Join("testdata", "sp.key")
		cfg.SPCert = filepath.Join("testdata", "sp.crt")
	}
	if o.mutate != nil {
		o.mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	clk := o.clock
	if clk == nil {
		clk = &testClock{}
	}
	logs := &bytes.Buffer{}
	callback := o.issuer + "/callback/" + o.id
	c, err := cfg.Open(context.Background(), connectors.Info{ID: o.id, Type: "saml", Name: "Test IdP"}, connectors.Deps{
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, nil)), CallbackURL: callback, Now: clk.Now,
		ReplayCache: o.replay, Keys: o.keys, UpstreamLogout: o.upstreamLogout,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	conn := c.(*gsaml.Connector)
	if !o.noRegister {
		md, err := conn.Metadata(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		name := o.registerAs
		if name == "" {
			name = o.id
		}
		ti.register(name, md)
	}
	return &sp{conn: conn, callback: callback, clock: clk, logs: logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t testing.TB
	c *http.Client
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status   int
	location string
	body     string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	formRe  = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRe = regexp.MustCompile(`<input type="(?:hidden|text|password)" name="([^"]+)"(?: placeholder="[^"]*")? value="([^"]*)"`)
)

// parseForm extracts the first form's action and its inputs.
func parseForm(t testing.TB, body string) (string, url.Values) {
	t.Helper()
	m := formRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form in page:\n%s", body)
	}
	vals := url.Values{}
	for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
		vals.Set(in[1], html.UnescapeString(in[2]))
	}
	return html.UnescapeString(m[1]), vals
}

// idpLogin drives the browser from the connector's Step through the IdP login form and
// returns the form the IdP posts to the ACS (action URL and fields).
func idpLogin(t testing.TB, b *browser, step connectors.Step, password string) (string, url.Values) {
	t.Helper()
	var p page
	if step.PostForm != nil {
		vals := url.Values{}
		for k, v := range step.PostForm {
			vals.Set(k, v)
		}
		p = b.post(step.URL, vals)
	} else {
		p = b.get(step.URL)
	}
	if p.status != http.StatusOK {
		t.Fatalf("IdP SSO: %d %s", p.status, p.body)
	}
	if strings.Contains(p.body, `name="password"`) {
		action, vals := parseForm(t, p.body)
		vals.Set("user", "alice")
		vals.Set("password", password)
		p = b.post(action, vals)
		if p.status != http.StatusOK {
			t.Fatalf("IdP login: %d %s", p.status, p.body)
		}
	}
	action, vals := parseForm(t, p.body)
	if vals.Get("SAMLResponse") == "" {
		t.Fatalf("IdP did not answer with a SAMLResponse form:\n%s", p.body)
	}
	return action, vals
}

// acsRequest builds the request the browser posts to the ACS.
func acsRequest(action string, vals url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, action, strings.NewReader(vals.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// login runs Begin and the IdP login and returns the ACS form, the step and the state.
func (s *sp) login(t testing.TB, b *browser, state string) (string, url.Values, connectors.Step) {
	t.Helper()
	step, err := s.conn.Begin(context.Background(), connectors.BeginRequest{CallbackURL: s.callback, State: state})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	action, vals := idpLogin(t, b, step, alicePassword)
	return action, vals, step
}

func (s *sp) finish(state string, stash []byte, action string, vals url.Values) (connectors.Upstream, error) {
	return s.conn.Finish(context.Background(), connectors.FinishRequest{CallbackURL: s.callback, State: state, Stash: stash}, acsRequest(action, vals))
}

// decodeResponse parses the SAMLResponse form value.
func decodeResponse(t testing.TB, vals url.Values) *etree.Document {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	return doc
}

// withResponse returns a copy of vals carrying doc (or raw) as the SAMLResponse.
func withResponse(t testing.TB, vals url.Values, doc *etree.Document) url.Values {
	t.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return withRaw(vals, b)
}

func withRaw(vals url.Values, raw []byte) url.Values {
	out := url.Values{}
	for k, v := range vals {
		out[k] = append([]string(nil), v...)
	}
	out.Set("SAMLResponse", base64.StdEncoding.EncodeToString(raw))
	return out
}

// signWith re-signs el (enveloped) with the key pair name from testdata.
func signWith(t testing.TB, name string, el *etree.Element) *etree.Element {
	t.Helper()
	key, cert := loadKeyPair(t, name)
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func removeSignature(el *etree.Element) {
	for _, c := range el.ChildElements() {
		if c.Tag == "Signature" {
			el.RemoveChild(c)
		}
	}
}

func xmlMarshal(v any) ([]byte, error) { return xml.Marshal(v) }

func xmlUnmarshal(b []byte, v any) error { return xml.Unmarshal(b, v) }
