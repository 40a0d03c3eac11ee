package logout

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// FuzzLogoutWithoutCookie feeds arbitrary id_token_hint, client_id and sid-bearing requests
// to /logout without the browser's cookie (the new path of issue 18 item 6, which acts on an
// untrusted token). Alice's session has one participant, "app"; the seeds include a valid
// hint of "other", which took no part. Whatever the input, the answer is never a 5xx and
// the session is never ended (no input can carry a valid hint of "app": the signature).
func FuzzLogoutWithoutCookie(f *testing.F) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "db"), logger)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() }) //nolint:errcheck // a test database in a temp dir
	keys := tokens.NewKeyManager(st, tokens.KeyOptions{Algorithm: tokens.AlgES256})
	if err := keys.Init(ctx); err != nil {
		f.Fatal(err)
	}
	const issuer = "https://id.example.com"
	minter := &tokens.Minter{Issuer: issuer, Keys: keys}
	sessions := &session.Manager{Store: st, Idle: time.Hour, Absolute: time.Hour}
	sess, err := sessions.Establish(ctx, httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil),
		storage.Identity{Subject: "alice"}, storage.Authentication{ConnectorID: "local"})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now().UTC()
	if err := st.AddParticipant(ctx, storage.Participant{SessionID: sess.ID, ClientID: "app", Subject: "alice", CreatedAt: now, Expiry: now.Add(time.Hour)}); err != nil {
		f.Fatal(err)
	}
	var cls []clients.Client
	for _, id := range []string{"app", "other"} {
		cls = append(cls, clients.New(clients.Client{ID: id, RedirectURIs: []string{"https://" + id + ".example/cb"},
			PostLogoutRedirectURIs: []string{"https://" + id + ".example/bye"}, BackchannelLogoutURI: "https://" + id + ".example/bcl",
			FrontchannelLogoutURI: "https://" + id + ".example/fcl"}, "s3cret-s3cret-s3cret"))
	}
	reg, err := clients.NewRegistry(cls)
	if err != nil {
		f.Fatal(err)
	}
	tmpl, err := web.Load("")
	if err != nil {
		f.Fatal(err)
	}
	h := &Handler{Sessions: sessions, Hints: minter, Subjects: sameSubject{}, Clients: reg, Ender: NewEnder(st, reg, time.Now),
		Pages: &pages.Renderer{Templates: tmpl, Logger: logger}, Logger: logger, Issuer: issuer, SessionRecords: st}

	other, err := minter.SignIDToken(tokens.IDToken{Subject: "alice", Audience: "other", SessionID: sess.ID, Expiry: now.Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(other, "", "")
	f.Add(other, "other", "https://other.example/bye")
	f.Add(other, "app", "")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", "app", "")
	f.Add("", "app", "https://app.example/bye")
	f.Add("x.y.z", "", "javascript:alert(1)")
	f.Fuzz(func(t *testing.T, hint, clientID, postLogout string) {
		q := url.Values{}
		for k, v := range map[string]string{"id_token_hint": hint, "client_id": clientID, "post_logout_redirect_uri": postLogout} {
			if v != "" {
				q.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		h.handleLogout(w, httptest.NewRequest(http.MethodGet, "/logout?"+q.Encode(), nil))
		if w.Code >= 500 {
			t.Fatalf("status %d for hint %q client %q", w.Code, hint, clientID)
		}
		if _, live, err := sessions.Live(ctx, sess.ID); err != nil || !live {
			t.Fatalf("session ended (live %v, %v) by hint %q client %q", live, err, hint, clientID)
		}
	})
}
