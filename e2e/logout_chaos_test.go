//go:build peers

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// logoutSink is a back-channel logout endpoint that, while closed, holds every request
// until it is opened or the sender goes away (a client that hangs); it counts the logout
// tokens it answered 200 by sid.
type logoutSink struct {
	srv    *httptest.Server
	open   chan struct{}
	mu     sync.Mutex
	held   int
	bySID  map[string]int
	badTyp int
}

func newLogoutSink(t *testing.T) *logoutSink {
	s := &logoutSink{open: make(chan struct{}), bySID: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: only then does the server notice (and cancel the request's
		// context) when the sender's connection closes.
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		select {
		case <-s.open:
		default:
			s.mu.Lock()
			s.held++
			s.mu.Unlock()
			select {
			case <-s.open:
			case <-r.Context().Done(): // the sender died: never delivered
				return
			}
			if r.Context().Err() != nil {
				return
			}
		}
		parts := strings.Split(r.PostForm.Get("logout_token"), ".")
		var hdr struct{ Typ string }
		var claims struct{ Sid string }
		if len(parts) != 3 || decodeSeg(parts[0], &hdr) != nil || decodeSeg(parts[1], &claims) != nil || hdr.Typ != "logout+jwt" {
			s.mu.Lock()
			s.badTyp++
			s.mu.Unlock()
			http.Error(w, "bad token", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.bySID[claims.Sid]++
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func decodeSeg(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (s *logoutSink) counts() (held, delivered, bad int, by map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	by = make(map[string]int, len(s.bySID))
	for k, v := range s.bySID {
		by[k] = v
	}
	return s.held, len(s.bySID), s.badTyp, by
}

// TestLogoutQueueSurvivesReplicaKill (issue 18): 100 back-channel logout deliveries are
// queued in PostgreSQL; replica A claims a batch and is SIGKILLed while the client holds
// those posts; replica B, started after, delivers all 100: the unclaimed ones at once, the
// ones A held once A's claim lapses (the one-minute lease). Each session's token reaches
// the client exactly once (A's posts never completed), and the queue ends empty.
func TestLogoutQueueSurvivesReplicaKill(t *testing.T) {
	dsn := haDatabase(t)
	sink := newLogoutSink(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	clients := []string{
		"  - id: bcl-app",
		"    secret: bcl-app-secret-0123456789",
		"    redirect_uris: [\"http://127.0.0.1:1/cb\"]",
		"    backchannel_logout_uri: \"" + sink.srv.URL + "/bcl\"",
	}
	a := startHAClusterWith(t, 1, dsn, haOptions{issuer: issuer, clients: clients})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx) //nolint:errcheck // test
	const n = 100
	now := time.Now().UnixMilli()
	batch := &pgx.Batch{}
	for i := range n {
		batch.Queue(`INSERT INTO logout_deliveries (id, client_id, uri, subject, session_id, created_at, next_attempt)
			VALUES ($1, 'bcl-app', $2, 'alice', $3, $4, $4)`, fmt.Sprintf("chaos-%03d", i), sink.srv.URL+"/bcl", fmt.Sprintf("sid-%03d", i), now)
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		t.Fatal(err)
	}

	// A claims a batch and its posts hang at the client; kill it then.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if held, _, _, _ := sink.counts(); held >= 8 {
			break
		}
		if time.Now().After(deadline) {
			held, _, _, _ := sink.counts()
			t.Fatalf("replica A holds %d posts after 15 s, want a batch", held)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.kill(0); err != nil {
		t.Fatal(err)
	}
	heldAtKill, _, _, _ := sink.counts()
	var claimed int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM logout_deliveries WHERE claim <> ''`).Scan(&claimed); err != nil {
		t.Fatal(err)
	}
	t.Logf("replica A SIGKILLed holding %d posts (%d rows claimed)", heldAtKill, claimed)
	time.Sleep(500 * time.Millisecond) // the sink sees A's connections close before it opens
	close(sink.open)

	start := time.Now()
	startHAClusterWith(t, 1, dsn, haOptions{issuer: issuer, clients: clients})
	var firstAll time.Duration
	for {
		_, delivered, bad, _ := sink.counts()
		if bad > 0 {
			t.Fatalf("%d tokens were not logout+jwt", bad)
		}
		if delivered >= n-claimed && firstAll == 0 {
			firstAll = time.Since(start)
		}
		if delivered == n {
			break
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("replica B delivered %d of %d within 2 minutes", delivered, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, _, _, by := sink.counts()
	for sid, c := range by {
		if c != 1 {
			t.Errorf("%s delivered %d times, want once", sid, c)
		}
	}
	var left int
	for range 50 {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM logout_deliveries`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if left != 0 {
		t.Errorf("%d deliveries left in the queue", left)
	}
	t.Logf("replica B: the %d unclaimed deliveries in %v, all %d (after A's lease lapsed) in %v",
		n-claimed, firstAll.Round(time.Millisecond), n, time.Since(start).Round(time.Millisecond))
}
