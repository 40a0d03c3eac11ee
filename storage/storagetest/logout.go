package storagetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunLogout runs the conformance tests of the optional storage.LogoutStore (session
// participants and the back-channel logout queue). open2 returns two handles on one database
// (two replicas); the claim race runs on both.
func RunLogout(t *testing.T, open2 func(t *testing.T) (a, b storage.Storage)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b storage.LogoutStore, st storage.Storage)
	}{
		{"Participants", testParticipants},
		{"SessionsOf", testSessionsOf},
		{"QueueLifecycle", testLogoutQueue},
		{"ClaimRace", testLogoutClaimRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open2(t)
			tt.fn(t, implements[storage.LogoutStore](t, a), implements[storage.LogoutStore](t, b), a)
		})
	}
}

func testParticipants(t *testing.T, ls, _ storage.LogoutStore, _ storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	p := storage.Participant{SessionID: "s1", ClientID: "app", Subject: "alice", CreatedAt: now, Expiry: now.Add(time.Hour)}
	wantErr(t, "add", ls.AddParticipant(ctx, p), nil)
	p.Subject = "alice-pairwise"
	wantErr(t, "add again (refresh)", ls.AddParticipant(ctx, p), nil)
	wantErr(t, "add other client", ls.AddParticipant(ctx, storage.Participant{SessionID: "s1", ClientID: "b-app", Subject: "alice", CreatedAt: now, Expiry: now.Add(time.Minute)}), nil)
	wantErr(t, "add other session", ls.AddParticipant(ctx, storage.Participant{SessionID: "s2", ClientID: "app", Subject: "bob", CreatedAt: now, Expiry: now.Add(time.Hour)}), nil)
	got, err := ls.Participants(ctx, "s1", now)
	wantErr(t, "list", err, nil)
	if len(got) != 2 || got[0].ClientID != "app" || got[0].Subject != "alice-pairwise" || got[1].ClientID != "b-app" ||
		got[0].Expiry.UnixMilli() != now.Add(time.Hour).UnixMilli() {
		t.Fatalf("participants of s1 = %+v", got)
	}
	got, err = ls.Participants(ctx, "s1", now.Add(2*time.Minute))
	wantErr(t, "list later", err, nil)
	if len(got) != 1 || got[0].ClientID != "app" {
		t.Fatalf("participants after one expired = %+v", got)
	}
	if got, err := ls.Participants(ctx, "none", now); err != nil || len(got) != 0 {
		t.Fatalf("participants of unknown session = %+v, %v", got, err)
	}
	n, err := ls.DeleteExpiredParticipants(ctx, now.Add(2*time.Minute))
	wantErr(t, "gc", err, nil)
	if n != 1 {
		t.Fatalf("gc deleted %d, want 1", n)
	}
}

func testSessionsOf(t *testing.T, ls, _ storage.LogoutStore, st storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	for _, s := range []struct {
		id, sub string
		idle    time.Duration
	}{{"a1", "alice", time.Hour}, {"a2", "alice", time.Hour}, {"a-old", "alice", -time.Minute}, {"b1", "bob", time.Hour}} {
		sess := storage.Session{ID: s.id, Identity: storage.Identity{Subject: s.sub}, Auth: storage.Authentication{ConnectorID: "local"},
			CreatedAt: now, LastUsed: now, IdleExpiry: now.Add(s.idle), AbsoluteExpiry: now.Add(2 * time.Hour)}
		wantErr(t, "create session "+s.id, st.CreateSession(ctx, sess), nil)
	}
	got, err := ls.SessionsOf(ctx, "alice", now)
	wantErr(t, "sessions of alice", err, nil)
	if !slices.Equal(got, []string{"a1", "a2"}) {
		t.Fatalf("sessions of alice = %v, want [a1 a2] (not the expired one, not bob's)", got)
	}
	if got, err := ls.SessionsOf(ctx, "nobody", now); err != nil || len(got) != 0 {
		t.Fatalf("sessions of nobody = %v, %v", got, err)
	}
}

func testLogoutQueue(t *testing.T, ls, _ storage.LogoutStore, _ storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	d := storage.LogoutDelivery{ID: "d1", ClientID: "app", URI: "https://app.example/bcl", Subject: "alice", SessionID: "s1", CreatedAt: now, NextAttempt: now}
	later := d
	later.ID, later.NextAttempt = "d2", now.Add(time.Minute)
	wantErr(t, "enqueue", ls.EnqueueLogouts(ctx, []storage.LogoutDelivery{d, later}), nil)
	wantErr(t, "enqueue a taken ID", ls.EnqueueLogouts(ctx, []storage.LogoutDelivery{d}), storage.ErrAlreadyExists)

	got, err := ls.ClaimLogouts(ctx, "w1", now, 30*time.Second, 10)
	wantErr(t, "claim", err, nil)
	if len(got) != 1 || got[0].ID != "d1" || got[0].URI != d.URI || got[0].Subject != "alice" || got[0].SessionID != "s1" ||
		got[0].Claim != "w1" || got[0].Attempts != 0 || got[0].CreatedAt.UnixMilli() != now.UnixMilli() {
		t.Fatalf("claim = %+v; want d1 only (d2 is not due)", got)
	}
	if again, err := ls.ClaimLogouts(ctx, "w2", now.Add(time.Second), 30*time.Second, 10); err != nil || len(again) != 0 {
		t.Fatalf("claim of a held delivery = %+v, %v; want none", again, err)
	}
	wantErr(t, "complete under another claim", ls.CompleteLogout(ctx, "d1", "w2"), storage.ErrNotFound)
	wantErr(t, "retry", ls.RetryLogout(ctx, "d1", "w1", now.Add(10*time.Second), "status 503"), nil)
	wantErr(t, "retry after release", ls.RetryLogout(ctx, "d1", "w1", now, "x"), storage.ErrNotFound)
	if early, err := ls.ClaimLogouts(ctx, "w2", now.Add(5*time.Second), 30*time.Second, 10); err != nil || len(early) != 0 {
		t.Fatalf("claim before the next attempt = %+v, %v; want none", early, err)
	}
	got, err = ls.ClaimLogouts(ctx, "w2", now.Add(10*time.Second), 30*time.Second, 10)
	wantErr(t, "claim the retry", err, nil)
	if len(got) != 1 || got[0].ID != "d1" || got[0].Attempts != 1 || got[0].LastError != "status 503" {
		t.Fatalf("claim of the retry = %+v", got)
	}
	// A lease that ran out lets another worker take the delivery; the first can no longer
	// complete it.
	got, err = ls.ClaimLogouts(ctx, "w3", now.Add(41*time.Second), 30*time.Second, 1)
	wantErr(t, "claim after the lease", err, nil)
	if len(got) != 1 || got[0].ID != "d1" {
		t.Fatalf("claim after the lease = %+v; want d1 (the oldest due, limit 1)", got)
	}
	wantErr(t, "complete under a lapsed claim", ls.CompleteLogout(ctx, "d1", "w2"), storage.ErrNotFound)
	wantErr(t, "complete", ls.CompleteLogout(ctx, "d1", "w3"), nil)
	wantErr(t, "complete twice", ls.CompleteLogout(ctx, "d1", "w3"), storage.ErrNotFound)
	got, err = ls.ClaimLogouts(ctx, "w4", now.Add(2*time.Minute), 30*time.Second, 10)
	wantErr(t, "claim the rest", err, nil)
	if len(got) != 1 || got[0].ID != "d2" {
		t.Fatalf("claim of the rest = %+v; want d2", got)
	}
}

// testLogoutClaimRace: 200 deliveries, 16 workers on two handles claiming in small batches
// at once: every delivery is claimed by exactly one worker.
func testLogoutClaimRace(t *testing.T, a, b storage.LogoutStore, _ storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	const n = 200
	var ds []storage.LogoutDelivery
	for i := range n {
		ds = append(ds, storage.LogoutDelivery{ID: fmt.Sprintf("d%03d", i), ClientID: "app", URI: "https://app.example/bcl",
			Subject: "alice", SessionID: "s1", CreatedAt: now, NextAttempt: now})
	}
	wantErr(t, "enqueue", a.EnqueueLogouts(ctx, ds), nil)
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		ls := a
		if w%2 == 1 {
			ls = b
		}
		claim := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				got, err := ls.ClaimLogouts(ctx, claim, now, time.Minute, 7)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					if prev, dup := seen[d.ID]; dup {
						errs <- fmt.Errorf("%s claimed by %s and %s", d.ID, prev, claim)
					}
					seen[d.ID] = claim
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != n {
		t.Fatalf("%d deliveries claimed, want %d", len(seen), n)
	}
}
