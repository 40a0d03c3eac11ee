package logout

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// oneDelivery is a LogoutStore holding one due delivery, recording what the Deliverer did.
type oneDelivery struct {
	storage.LogoutStore
	d                  storage.LogoutDelivery
	claimed            bool
	completed, retried int
	next               time.Time
}

func (q *oneDelivery) ClaimLogouts(_ context.Context, claim string, _ time.Time, _ time.Duration, _ int) ([]storage.LogoutDelivery, error) {
	if q.claimed {
		return nil, nil
	}
	q.claimed, q.d.Claim = true, claim
	return []storage.LogoutDelivery{q.d}, nil
}

func (q *oneDelivery) CompleteLogout(_ context.Context, _, _ string) error { q.completed++; return nil }

func (q *oneDelivery) RetryLogout(_ context.Context, _, _ string, next time.Time, _ string) error {
	q.retried++
	q.next = next
	return nil
}

type fixedSigner struct{}

func (fixedSigner) SignLogoutToken(context.Context, tokens.LogoutToken) (string, error) {
	return "header.payload.signature", nil
}

// TestDeliveryOutcomes: only a 2xx answer completes a delivery; a redirect is not followed
// (its target is never reached) and, like a 4xx/5xx or an unreachable client, is retried
// after the backoff; a failure past MaxAge is abandoned (dropped, not retried).
func TestDeliveryOutcomes(t *testing.T) {
	var redirectTargetHit atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { redirectTargetHit.Store(true) }))
	defer target.Close()
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name               string
		handler            http.HandlerFunc
		age                time.Duration
		completed, retried int
	}{
		{"200", func(w http.ResponseWriter, _ *http.Request) {}, 0, 1, 0},
		{"204", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }, 0, 1, 0},
		{"200 with a large body", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(strings.Repeat("x", 1<<20))) }, 0, 1, 0},
		{"redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target.URL, http.StatusFound) }, 0, 0, 1},
		{"400", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadRequest) }, 0, 0, 1},
		{"503", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, 0, 0, 1},
		{"503 past the max age", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, 25 * time.Hour, 1, 0},
		{"unreachable", nil, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uri := "http://127.0.0.1:1/bcl"
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				uri = srv.URL
			}
			q := &oneDelivery{d: storage.LogoutDelivery{ID: "d", ClientID: "app", URI: uri, Subject: "alice", SessionID: "s",
				CreatedAt: now.Add(-tt.age), Attempts: 2}}
			d := &Deliverer{Queue: q, Signer: fixedSigner{}, Now: func() time.Time { return now }}
			if n, err := d.RunOnce(t.Context()); err != nil || n != 1 {
				t.Fatalf("RunOnce = %d, %v", n, err)
			}
			if q.completed != tt.completed || q.retried != tt.retried {
				t.Fatalf("completed %d retried %d, want %d %d", q.completed, q.retried, tt.completed, tt.retried)
			}
			if tt.retried == 1 && !q.next.Equal(now.Add(20*time.Second)) {
				t.Errorf("next attempt %v, want now + 5s*2^2", q.next)
			}
		})
	}
	if redirectTargetHit.Load() {
		t.Error("the delivery followed a redirect")
	}
}

// TestBackoff: 5 s doubled per earlier failure, capped at 10 minutes.
func TestBackoff(t *testing.T) {
	d := &Deliverer{}
	d.defaults()
	for _, tt := range []struct {
		attempts int
		want     time.Duration
	}{{0, 5 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {6, 320 * time.Second}, {7, 10 * time.Minute}, {1000, 10 * time.Minute}} {
		if got := d.backoff(tt.attempts); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
		}
	}
}
