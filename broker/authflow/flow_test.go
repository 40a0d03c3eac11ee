package authflow

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
	"github.com/gatehouse-id/gatehouse/web"
)

// fakeClaims lets every user through and knows no scope.
type fakeClaims struct{}

func (fakeClaims) Normalize(context.Context, string, connectors.Upstream) (storage.Identity, error) {
	return storage.Identity{}, nil
}
func (fakeClaims) AuthorizeClient(string, storage.Identity) error       { return nil }
func (fakeClaims) ScopeDescription(string) string                       { return "" }
func (fakeClaims) CustomScopeClaims(string) []string                    { return nil }
func (fakeClaims) KnownClaim(string) bool                               { return true }
func (fakeClaims) IndividualClaims(string, []string, []string) []string { return nil }
func (fakeClaims) ClaimDescription(string) string                       { return "" }
func (fakeClaims) SubjectFor(_, sub string) string                      { return sub }

// recorder is a Responder that records how a flow ended.
type recorder struct {
	ended string
	ar    storage.AuthRequest
	err   *oauth2err.Error
}

func (rc *recorder) Finish(w http.ResponseWriter, _ *http.Request, ar storage.AuthRequest) {
	rc.ended, rc.ar = "finish", ar
}

func (rc *recorder) Fail(w http.ResponseWriter, _ *http.Request, ar storage.AuthRequest, err *oauth2err.Error) {
	rc.ended, rc.ar, rc.err = "fail", ar, err
}

func (rc *recorder) Deny(w http.ResponseWriter, _ *http.Request, ar storage.AuthRequest, _ string) {
	rc.ended, rc.ar = "deny", ar
}

func newTestFlow(t *testing.T) (*Flow, *sqlite.Store) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) //nolint:errcheck // a test database in a temp dir
	tmpl, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := clients.NewRegistry([]clients.Client{clients.New(clients.Client{ID: "app", RedirectURIs: []string{"https://app.example/cb"}}, "")})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Deps{
		Issuer: "https://id.example", Store: st, RateLimits: st, Claims: fakeClaims{}, Clients: reg,
		Sessions:   &session.Manager{Store: st, Idle: time.Hour, Absolute: time.Hour},
		Connectors: connset.New(nil), Templates: tmpl, RequestLifetime: time.Minute, Logger: logger,
		Pages: &pages.Renderer{Templates: tmpl, Logger: logger},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, st
}

func TestStartWithoutResponderIsExpired(t *testing.T) {
	f, _ := newTestFlow(t)
	w := httptest.NewRecorder()
	f.Start(w, httptest.NewRequest(http.MethodGet, "/authorize", nil), storage.AuthRequest{Protocol: storage.ProtocolSAML, ClientID: "app", MaxAge: -1}, "")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "expired") {
		t.Fatalf("want the expired page, got %d\n%s", w.Code, w.Body)
	}
}

func TestStartPromptNoneWithoutSessionFails(t *testing.T) {
	f, _ := newTestFlow(t)
	rc := &recorder{}
	f.SetResponder(storage.ProtocolOIDC, rc)
	w := httptest.NewRecorder()
	f.Start(w, httptest.NewRequest(http.MethodGet, "/authorize", nil), storage.AuthRequest{ClientID: "app", Prompt: []string{"none"}, MaxAge: -1}, "")
	if rc.ended != "fail" || rc.err.Code != oauth2err.LoginRequired {
		t.Fatalf("want Fail(login_required), got %q %v", rc.ended, rc.err)
	}
}

func TestStartStoresRequestAndGoesToLogin(t *testing.T) {
	f, st := newTestFlow(t)
	rc := &recorder{}
	f.SetResponder(storage.ProtocolOIDC, rc)
	w := httptest.NewRecorder()
	f.Start(w, httptest.NewRequest(http.MethodGet, "/authorize", nil), storage.AuthRequest{Protocol: storage.ProtocolOIDC, ClientID: "app", MaxAge: -1}, "")
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?req=") || rc.ended != "" {
		t.Fatalf("want a redirect to the chooser, got %d %q (ended %q)", w.Code, loc, rc.ended)
	}
	ar, err := st.GetAuthRequest(context.Background(), strings.TrimPrefix(loc, "/login?req="))
	if err != nil {
		t.Fatal(err)
	}
	if ar.FlowHash == "" || ar.Protocol != storage.ProtocolOIDC || !ar.Expiry.After(ar.CreatedAt) {
		t.Errorf("stored request: %+v", ar)
	}
}

// downStore fails every auth request read, as an unreachable database does.
type downStore struct{ Store }

func (downStore) GetAuthRequest(context.Context, string) (storage.AuthRequest, error) {
	return storage.AuthRequest{}, errors.New("database unreachable (test)")
}

// TestCallbackStorageErrorIsNotExpired: an upstream callback arriving while the database is
// unreachable gets the internal-error page (the user can reload it), not "your sign-in link
// has expired"; an unknown state is still the expired page.
func TestCallbackStorageErrorIsNotExpired(t *testing.T) {
	f, st := newTestFlow(t)
	w := httptest.NewRecorder()
	f.handleCallback(w, httptest.NewRequest(http.MethodGet, "/callback/up?state=unknown-state&code=x", nil))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "expired") {
		t.Fatalf("unknown state: want the expired page, got %d", w.Code)
	}
	f.Store = downStore{st}
	w = httptest.NewRecorder()
	f.handleCallback(w, httptest.NewRequest(http.MethodGet, "/callback/up?state=some-state&code=x", nil))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "expired") {
		t.Fatalf("storage down: want the internal-error page, got %d\n%s", w.Code, w.Body)
	}
}
