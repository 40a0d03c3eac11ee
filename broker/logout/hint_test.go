package logout_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// serverGet is a GET from the client's server: no cookie of the browser.
func serverGet(t *testing.T, u string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u) //nolint:noctx // test
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // test
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}

// TestLogoutByHintWithoutCookie (issue 18 item 6, oauth2-proxy's --backend-logout-url): a
// logout request from the client's server carries the id_token_hint and no cookie. A valid
// hint of a client that took part in the session ends that session (and the other clients
// hear of it); a hint for a client that took no part, an expired hint, a hint of an ended
// session and a forged hint end nothing, and the page says so.
func TestLogoutByHintWithoutCookie(t *testing.T) {
	o := newOP(t, brokertest.Options{})
	minter := &tokens.Minter{Issuer: o.Issuer, Keys: o.Keys, Now: o.Clock.Now}
	forgedKeys := forgedKeyManager(t)
	tests := []struct {
		name     string
		hint     func(idToken, sub, sid string) string
		status   int
		say      string
		sessLive bool
	}{
		{"valid", func(id, _, _ string) string { return id }, http.StatusOK, "You are signed out", false},
		{"client not in the session", func(_, sub, sid string) string {
			return sign(t, minter, tokens.IDToken{Subject: sub, Audience: "bc-b", SessionID: sid, Expiry: o.Clock.Now().Add(time.Hour)})
		}, http.StatusOK, "took no part in that session", true},
		{"expired", func(_, sub, sid string) string {
			past := &tokens.Minter{Issuer: o.Issuer, Keys: o.Keys, Now: func() time.Time { return o.Clock.Now().Add(-2 * time.Hour) }}
			return sign(t, past, tokens.IDToken{Subject: sub, Audience: "bc-a", SessionID: sid, Expiry: o.Clock.Now().Add(-time.Hour)})
		}, http.StatusOK, "expired token", true},
		{"another user's sub", func(_, _, sid string) string {
			return sign(t, minter, tokens.IDToken{Subject: "someone-else", Audience: "bc-a", SessionID: sid, Expiry: o.Clock.Now().Add(time.Hour)})
		}, http.StatusOK, "names another user", true},
		{"session already ended", func(id, _, sid string) string {
			if err := o.Store.DeleteSession(context.Background(), sid); err != nil {
				t.Fatal(err)
			}
			return id
		}, http.StatusOK, "already ended", false},
		{"forged", func(_, sub, sid string) string {
			return sign(t, &tokens.Minter{Issuer: o.Issuer, Keys: forgedKeys, Now: o.Clock.Now},
				tokens.IDToken{Subject: sub, Audience: "bc-a", SessionID: sid, Expiry: o.Clock.Now().Add(time.Hour)})
		}, http.StatusBadRequest, "id_token_hint is not valid", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := o.Browser()
			id := o.login(b, "bc-a", "alice")
			sub, sid := claimsOf(t, id)
			gen := o.Gatehouse.Server.Sessions.Ended()
			st, body := serverGet(t, o.Issuer+"/logout?"+url.Values{"id_token_hint": {tt.hint(id, sub, sid)}}.Encode())
			if st != tt.status || !strings.Contains(body, tt.say) {
				t.Fatalf("status %d, want %d with %q:\n%s", st, tt.status, tt.say, body)
			}
			_, err := o.Store.GetSession(t.Context(), sid)
			if live := err == nil; (err != nil && !errors.Is(err, storage.ErrNotFound)) || live != tt.sessLive {
				t.Fatalf("session live = %v (%v), want %v", live, err, tt.sessLive)
			}
			if tt.name == "valid" {
				if o.Gatehouse.Server.Sessions.Ended() == gen {
					t.Error("the session generation did not grow: forward-auth caches would keep the session")
				}
				// The browser is signed out too, and bc-a hears of it.
				if p := b.Get(o.Issuer + "/logout"); !strings.Contains(p.Body, "nothing to sign out") {
					t.Errorf("browser still signed in after the hint logout:\n%s", p.Body)
				}
				o.deliver()
				if got, _ := o.rcv["bc-a"].got(); len(got) == 0 || got[len(got)-1].Sid != sid {
					t.Errorf("bc-a got %+v, want a token for %s", got, sid)
				}
			}
		})
	}
}

func sign(t *testing.T, m *tokens.Minter, it tokens.IDToken) string {
	t.Helper()
	tok, err := m.SignIDToken(it)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forgedKeyManager is a key set of another Gatehouse.
func forgedKeyManager(t *testing.T) *tokens.KeyManager {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/forged.db", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) //nolint:errcheck // test
	km := tokens.NewKeyManager(st, tokens.KeyOptions{Algorithm: tokens.AlgRS256})
	if err := km.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	return km
}

// TestFrontChannelLogoutIframes: the signed-out page of a session in which "front" took part
// loads its front-channel logout URI in an iframe with iss and sid, allows exactly that
// frame origin in its CSP, and sends the browser on to the post-logout redirect URI after a
// bounded wait; a logout without front-channel clients redirects at once.
func TestFrontChannelLogoutIframes(t *testing.T) {
	o := newOP(t, brokertest.Options{})
	b := o.Browser()
	o.login(b, "bc-a", "alice")
	id := o.login(b, "front", "alice")
	_, sid := claimsOf(t, id)
	bye := "http://127.0.0.1:1/bye/front"
	p := b.Get(o.Issuer + "/logout?" + url.Values{"id_token_hint": {id}, "post_logout_redirect_uri": {bye}, "state": {"s1"}}.Encode())
	if p.Status != http.StatusOK {
		t.Fatalf("logout: %d\n%s", p.Status, p.Body)
	}
	want := frontURI + "&amp;iss=" + url.QueryEscape(o.Issuer) + "&amp;sid=" + sid
	if !strings.Contains(p.Body, `<iframe class="logout-frame" src="`+want+`"`) {
		t.Errorf("no iframe for %s in:\n%s", want, p.Body)
	}
	if strings.Count(p.Body, "<iframe") != 1 {
		t.Errorf("want exactly one iframe (bc-a has no front-channel URI):\n%s", p.Body)
	}
	if !strings.Contains(p.Body, `http-equiv="refresh" content="3;url=`+bye+`?state=s1"`) {
		t.Errorf("no bounded wait before %s:\n%s", bye, p.Body)
	}
	if csp := p.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "; frame-src http://127.0.0.1:9") || strings.Count(csp, "frame-src") != 1 {
		t.Errorf("CSP = %q, want frame-src exactly http://127.0.0.1:9", csp)
	}

	b2 := o.Browser()
	id = o.login(b2, "plain", "alice")
	p = b2.Get(o.Issuer + "/logout?" + url.Values{"id_token_hint": {id}, "post_logout_redirect_uri": {"http://127.0.0.1:1/bye/plain"}}.Encode())
	if p.Status != http.StatusSeeOther || !strings.Contains(p.Location, "/bye/plain") {
		t.Errorf("logout without front-channel clients: %d %s", p.Status, p.Location)
	}
}
