package samlidp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/web"
)

// fakeFlow records the auth requests the SSO endpoint starts flows for.
type fakeFlow struct{ started []storage.AuthRequest }

func (f *fakeFlow) Start(w http.ResponseWriter, _ *http.Request, ar storage.AuthRequest, hint string) {
	f.started = append(f.started, ar)
	w.WriteHeader(http.StatusNoContent)
}

// memRequests is an AuthRequestStore in memory.
type memRequests struct {
	mu sync.Mutex
	m  map[string]storage.AuthRequest
	// failDelete makes DeleteAuthRequest fail as an unreachable database would.
	failDelete bool
}

func (s *memRequests) CreateAuthRequest(_ context.Context, r storage.AuthRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[r.ID]; ok {
		return storage.ErrAlreadyExists
	}
	s.m[r.ID] = r
	return nil
}

func (s *memRequests) GetAuthRequest(_ context.Context, id string) (storage.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	if !ok {
		return r, storage.ErrNotFound
	}
	return r, nil
}

func (s *memRequests) UpdateAuthRequest(context.Context, string, func(storage.AuthRequest) (storage.AuthRequest, error)) error {
	panic("not used")
}

func (s *memRequests) DeleteAuthRequest(_ context.Context, id string) error {
	if s.failDelete {
		return errors.New("database unreachable (test)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.m, id)
	return nil
}

type noClaims struct{}

func (noClaims) Claims(string, storage.Identity, storage.Authentication, []string) map[string]any {
	return map[string]any{"name": "Alice"}
}

type handlerEnv struct {
	h    *Handler
	sp   *saml.ServiceProvider
	flow *fakeFlow
	reqs *memRequests
	mux  http.Handler
}

func newHandlerEnv(t *testing.T) *handlerEnv {
	t.Helper()
	sp := testSP(t, "https://app.example.com", false)
	idp := newTestIdP(t, sp)
	tpl, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e := &handlerEnv{sp: sp, flow: &fakeFlow{}, reqs: &memRequests{m: map[string]storage.AuthRequest{}}}
	e.h = &Handler{IdP: idp, Flow: e.flow, AuthRequests: e.reqs, Claims: noClaims{},
		Pages: &pages.Renderer{Templates: tpl, Logger: log}, Logger: log, Now: time.Now}
	mux := http.NewServeMux()
	id := func(h http.Handler) http.Handler { return h }
	e.h.Mount(route.New(mux, "", id, id, id))
	e.mux = mux
	return e
}

func (e *handlerEnv) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	return rec
}

// TestSSOStartsTypedAuthRequest: an AuthnRequest enters the flow as an auth request whose
// protocol and SAML side are typed fields; the OIDC fields stay empty.
func TestSSOStartsTypedAuthRequest(t *testing.T) {
	e := newHandlerEnv(t)
	u, err := e.sp.MakeRedirectAuthenticationRequest("relay-1")
	if err != nil {
		t.Fatal(err)
	}
	if rec := e.do(httptest.NewRequest(http.MethodGet, u.String(), nil)); rec.Code != http.StatusNoContent || len(e.flow.started) != 1 {
		t.Fatalf("status %d, started %d\n%s", rec.Code, len(e.flow.started), rec.Body)
	}
	ar := e.flow.started[0]
	if ar.Protocol != storage.ProtocolSAML || ar.ClientID != "saml:spa" || ar.SAML == nil {
		t.Fatalf("%+v", ar)
	}
	if s := ar.SAML; s.SP != "spa" || s.RequestID == "" || s.ACSURL != "https://app.example.com/acs" || s.RelayState != "relay-1" || s.Parked {
		t.Fatalf("SAML side %+v", s)
	}
	if ar.RedirectURI != "" || ar.State != "" || ar.Nonce != "" || ar.ResponseType != "" || ar.ResponseMode != "" || ar.MaxAge != -1 || len(ar.Prompt) != 0 {
		t.Fatalf("OIDC fields set for SAML: %+v", ar)
	}
	// IdP-initiated: no request ID.
	if rec := e.do(httptest.NewRequest(http.MethodGet, "/saml/idp/init/spa?RelayState=home", nil)); rec.Code != http.StatusNoContent {
		t.Fatalf("init: %d", rec.Code)
	}
	if s := e.flow.started[1].SAML; s.RequestID != "" || s.RelayState != "home" {
		t.Fatalf("IdP-initiated %+v", s)
	}
}

// TestSSOPostParkedOnce: a POST-binding request is parked (not started) and resumed once by
// the browser's GET, with ForceAuthn and IsPassive kept as prompts.
func TestSSOPostParkedOnce(t *testing.T) {
	e := newHandlerEnv(t)
	e.sp.ForceAuthn = new(bool)
	*e.sp.ForceAuthn = true
	areq, err := e.sp.MakeAuthenticationRequest(e.h.IdP.ssoURL, saml.HTTPPostBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := xmlDoc(areq.Element()).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(buf.Bytes())}}
	post := httptest.NewRequest(http.MethodPost, e.h.IdP.ssoURL, strings.NewReader(form.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := e.do(post)
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/saml/idp/sso?pending=") || len(e.flow.started) != 0 {
		t.Fatalf("park: %d %q\n%s", rec.Code, loc, rec.Body)
	}
	if len(e.reqs.m) != 1 {
		t.Fatalf("parked %d", len(e.reqs.m))
	}
	for _, ar := range e.reqs.m {
		if ar.Protocol != storage.ProtocolSAML || ar.SAML == nil || !ar.SAML.Parked || ar.ResponseType != "" {
			t.Fatalf("parked %+v", ar)
		}
	}
	if rec := e.do(httptest.NewRequest(http.MethodGet, loc, nil)); rec.Code != http.StatusNoContent || len(e.flow.started) != 1 {
		t.Fatalf("resume: %d\n%s", rec.Code, rec.Body)
	}
	ar := e.flow.started[0]
	if ar.SAML.Parked || ar.SAML.RequestID != areq.ID || len(ar.Prompt) != 1 || ar.Prompt[0] != "login" {
		t.Fatalf("resumed %+v %+v", ar, ar.SAML)
	}
	if rec := e.do(httptest.NewRequest(http.MethodGet, loc, nil)); rec.Code != http.StatusBadRequest || len(e.flow.started) != 1 {
		t.Fatalf("second resume: %d", rec.Code)
	}
}

var fieldRE = regexp.MustCompile(`name="(SAMLResponse|RelayState)" value="([^"]*)"`)

// postedResponse reads the SAML Response of a POST-binding page.
func postedResponse(t *testing.T, body string) (raw []byte, relay string) {
	t.Helper()
	for _, m := range fieldRE.FindAllStringSubmatch(body, -1) {
		v := html.UnescapeString(m[2])
		if m[1] == "RelayState" {
			relay = v
			continue
		}
		var err error
		if raw, err = base64.StdEncoding.DecodeString(v); err != nil {
			t.Fatal(err)
		}
	}
	if raw == nil {
		t.Fatalf("no SAMLResponse in\n%s", body)
	}
	return raw, relay
}

// TestResponder: Finish posts an assertion the SP accepts; Fail maps OAuth error codes to
// SAML statuses; Deny renders the page with a way back to the SP.
func TestResponder(t *testing.T) {
	e := newHandlerEnv(t)
	ar := storage.AuthRequest{Protocol: storage.ProtocolSAML, ClientID: "saml:spa", Scopes: scopes,
		SAML:     &storage.SAMLRequest{SP: "spa", RequestID: "id-1", ACSURL: "https://app.example.com/acs", RelayState: "r1"},
		LoggedIn: true, Identity: storage.Identity{Subject: "u1", Email: "a@example.com", EmailVerified: true},
		Auth: storage.Authentication{ConnectorID: "local", AuthTime: time.Now(), AMR: []string{"pwd"}}, SessionID: "s1"}
	rec := httptest.NewRecorder()
	e.h.Finish(rec, httptest.NewRequest(http.MethodGet, "/consent", nil), ar)
	raw, relay := postedResponse(t, rec.Body.String())
	acs, _ := url.Parse("https://app.example.com/acs")
	assertion, err := e.sp.ParseXMLResponse(raw, []string{"id-1"}, *acs)
	if err != nil || relay != "r1" {
		t.Fatalf("SP refused the response (relay %q): %v", relay, describe(err))
	}
	if !bytes.Contains(raw, []byte("Alice")) || assertion.Subject == nil {
		t.Fatalf("assertion without the claims' attributes:\n%s", raw)
	}

	for code, want := range map[oauth2err.Code]string{
		oauth2err.LoginRequired: StatusNoPassive, oauth2err.ConsentRequired: StatusNoPassive,
		oauth2err.AccessDenied: StatusRequestDenied, oauth2err.ServerError: StatusAuthnFailed,
	} {
		rec := httptest.NewRecorder()
		e.h.Fail(rec, httptest.NewRequest(http.MethodGet, "/login", nil), ar, oauth2err.New(code, "secret detail"))
		raw, _ := postedResponse(t, rec.Body.String())
		if !bytes.Contains(raw, []byte(want)) || !bytes.Contains(raw, []byte(`InResponseTo="id-1"`)) {
			t.Errorf("%s: want %s in\n%s", code, want, raw)
		}
		if code == oauth2err.ServerError && bytes.Contains(raw, []byte("secret detail")) {
			t.Errorf("server error message sent to the SP")
		}
	}
	rec = httptest.NewRecorder()
	e.h.Fail(rec, httptest.NewRequest(http.MethodGet, "/login", nil), storage.AuthRequest{Protocol: storage.ProtocolSAML}, oauth2err.New(oauth2err.AccessDenied, ""))
	if rec.Code != http.StatusBadRequest || strings.Contains(rec.Body.String(), "SAMLResponse") {
		t.Errorf("fail without a SAML request: %d", rec.Code)
	}

	rec = httptest.NewRecorder()
	e.h.Deny(rec, httptest.NewRequest(http.MethodGet, "/login", nil), ar, "not in the right group")
	body := rec.Body.String()
	if rec.Code != http.StatusForbidden || !strings.Contains(body, "not in the right group") || !strings.Contains(body, `action="https://app.example.com/acs"`) {
		t.Fatalf("deny: %d\n%s", rec.Code, body)
	}
	raw, _ = postedResponse(t, body)
	if !bytes.Contains(raw, []byte(StatusRequestDenied)) {
		t.Fatalf("deny response\n%s", raw)
	}
}

// TestResumeStorageErrorIsNotExpired: when taking a parked request fails in storage, the user
// is told Gatehouse failed (and the request stays for a retry), not that the link expired.
func TestResumeStorageErrorIsNotExpired(t *testing.T) {
	e := newHandlerEnv(t)
	now := time.Now().UTC()
	e.reqs.m["parked-1"] = storage.AuthRequest{ID: "parked-1", Protocol: storage.ProtocolSAML, ClientID: "saml:spa",
		SAML: &storage.SAMLRequest{SP: "spa", ACSURL: "https://app.example.com/acs", Parked: true}, CreatedAt: now, Expiry: now.Add(time.Minute)}
	e.reqs.failDelete = true
	rec := e.do(httptest.NewRequest(http.MethodGet, "/saml/idp/sso?pending=parked-1", nil))
	if rec.Code != http.StatusInternalServerError || len(e.flow.started) != 0 {
		t.Fatalf("resume with storage down: %d (want 500), started %d\n%s", rec.Code, len(e.flow.started), rec.Body)
	}
	if _, ok := e.reqs.m["parked-1"]; !ok {
		t.Fatal("the parked request was lost")
	}
	e.reqs.failDelete = false
	if rec := e.do(httptest.NewRequest(http.MethodGet, "/saml/idp/sso?pending=parked-1", nil)); rec.Code != http.StatusNoContent || len(e.flow.started) != 1 {
		t.Fatalf("retry: %d\n%s", rec.Code, rec.Body)
	}
}
