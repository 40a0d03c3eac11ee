package logout

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
	"github.com/gatehouse-id/gatehouse/tokens"
	"github.com/gatehouse-id/gatehouse/web"
)

// hintFor accepts any id_token_hint as one for the session.
type hintFor struct{ sid string }

func (h hintFor) VerifyIDTokenHint(string) (tokens.IDTokenHint, error) {
	return tokens.IDTokenHint{Subject: "alice", Audience: "app", SessionID: h.sid, Expiry: time.Now().Add(time.Hour)}, nil
}

type sameSubject struct{}

func (sameSubject) SubjectFor(_, sub string) string { return sub }

// flakyGrants is the store's grants, with revocation failing while down is set.
type flakyGrants struct {
	*sqlite.Store
	down bool
}

func (f *flakyGrants) RevokeGrant(ctx context.Context, id string, now time.Time) error {
	if f.down {
		return errors.New("database unreachable (test)")
	}
	return f.Store.RevokeGrant(ctx, id, now)
}

// TestLogoutRevokesBeforeEndingSession: when revoking the session's online grants fails, the
// user is told and is still signed in (so signing out again works), never signed out with
// an access token that still works at userinfo; the retry revokes and signs out.
func TestLogoutRevokesBeforeEndingSession(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) //nolint:errcheck // a test database in a temp dir
	sessions := &session.Manager{Store: st, Idle: time.Hour, Absolute: time.Hour}
	rec := httptest.NewRecorder()
	sess, err := sessions.Establish(ctx, rec, httptest.NewRequest(http.MethodGet, "/", nil), storage.Identity{Subject: "alice"}, storage.Authentication{ConnectorID: "local"})
	if err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	now := time.Now().UTC()
	if err := st.CreateGrant(ctx, storage.Grant{ID: "online", ClientID: "app", Scopes: []string{"openid"}, Identity: sess.Identity,
		SessionID: sess.ID, CreatedAt: now, AbsoluteExpiry: now.Add(time.Hour)}, nil); err != nil {
		t.Fatal(err)
	}
	reg, err := clients.NewRegistry([]clients.Client{clients.New(clients.Client{ID: "app", RedirectURIs: []string{"https://app.example/cb"}}, "s3cret-s3cret-s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	grants := &flakyGrants{Store: st, down: true}
	h := &Handler{Sessions: sessions, Hints: hintFor{sid: sess.ID}, Subjects: sameSubject{}, Clients: reg,
		Ender: &Ender{Grants: grants, Now: time.Now}, Pages: &pages.Renderer{Templates: tmpl, Logger: logger}, Logger: logger}
	logoutOnce := func() (int, bool) {
		req := httptest.NewRequest(http.MethodGet, "/logout?id_token_hint=h", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.handleLogout(w, req)
		_, live, err := sessions.Live(ctx, sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		return w.Code, live
	}
	if code, live := logoutOnce(); code != http.StatusInternalServerError || !live {
		t.Fatalf("revocation failing: status %d, session live %v; want 500 and still signed in", code, live)
	}
	if g, err := st.GetGrant(ctx, "online"); err != nil || g.Revoked {
		t.Fatalf("grant after the failed logout: %+v %v", g, err)
	}
	grants.down = false
	if code, live := logoutOnce(); code != http.StatusOK || live {
		t.Fatalf("retry: status %d, session live %v; want 200 and signed out", code, live)
	}
	if g, err := st.GetGrant(ctx, "online"); err != nil || !g.Revoked {
		t.Fatalf("grant after the logout: revoked %v, %v", g.Revoked, err)
	}
}
