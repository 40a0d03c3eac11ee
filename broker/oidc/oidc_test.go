package oidc

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/web"
)

// codes keeps the codes Finish creates.
type codes struct{ got []storage.AuthCode }

func (c *codes) CreateAuthCode(_ context.Context, ac storage.AuthCode) error {
	c.got = append(c.got, ac)
	return nil
}

func (c *codes) ConsumeCode(context.Context, string, time.Time) (storage.AuthCode, error) {
	return storage.AuthCode{}, storage.ErrNotFound
}

func newTestHandler(t *testing.T) (*Handler, *codes) {
	t.Helper()
	tmpl, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	cs := &codes{}
	return New(Deps{
		Issuer: "https://id.example", Codes: cs, CodeLifetime: time.Minute, Logger: logger,
		Pages: &pages.Renderer{Templates: tmpl, Logger: logger},
	}), cs
}

func TestFinishIssuesCodeAndRedirects(t *testing.T) {
	h, cs := newTestHandler(t)
	w := httptest.NewRecorder()
	ar := storage.AuthRequest{ClientID: "app", RedirectURI: "https://app.example/cb?x=1", State: "s1", Nonce: "n1",
		Identity: storage.Identity{Subject: "alice"}}
	h.Finish(w, httptest.NewRequest(http.MethodGet, "/consent", nil), ar)
	if len(cs.got) != 1 || cs.got[0].Nonce != "n1" || cs.got[0].Identity.Subject != "alice" {
		t.Fatalf("stored codes: %+v", cs.got)
	}
	u, err := url.Parse(w.Header().Get("Location"))
	if err != nil || w.Code != http.StatusSeeOther {
		t.Fatalf("%d %v", w.Code, err)
	}
	q := u.Query()
	if q.Get("x") != "1" || q.Get("state") != "s1" || q.Get("iss") != "https://id.example" || opaque.Hash(q.Get("code")) != cs.got[0].Hash {
		t.Errorf("redirect %s", u)
	}
}

func TestFailRedirectsOrShowsPage(t *testing.T) {
	h, _ := newTestHandler(t)
	ar := storage.AuthRequest{RedirectURI: "https://app.example/cb", ResponseMode: "form_post", State: "s1"}
	w := httptest.NewRecorder()
	h.Fail(w, httptest.NewRequest(http.MethodGet, "/authorize", nil), ar, oauth2err.New(oauth2err.LoginRequired, "the user is not signed in"))
	body := w.Body.String()
	for _, want := range []string{`action="https://app.example/cb"`, `value="login_required"`, `value="s1"`} {
		if !strings.Contains(body, want) {
			t.Errorf("form_post error lacks %s:\n%s", want, body)
		}
	}
	w = httptest.NewRecorder()
	h.Fail(w, httptest.NewRequest(http.MethodGet, "/authorize", nil), ar, &oauth2err.Error{Code: oauth2err.InvalidRequest, Description: "bad", NoRedirect: true})
	if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" || !strings.Contains(w.Body.String(), "invalid sign-in request: bad") {
		t.Errorf("a NoRedirect error must be a page: %d\n%s", w.Code, w.Body)
	}
}

func TestDenyShowsReason(t *testing.T) {
	h, _ := newTestHandler(t)
	w := httptest.NewRecorder()
	h.Deny(w, httptest.NewRequest(http.MethodGet, "/login", nil), storage.AuthRequest{}, "not in the group")
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "not in the group") {
		t.Errorf("%d\n%s", w.Code, w.Body)
	}
}
