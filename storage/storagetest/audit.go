package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunAudit runs the conformance tests of the optional storage.AuditStore. open must return
// a new, empty store and register its Close with t.Cleanup.
func RunAudit(t *testing.T, open func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.AuditStore)
	}{
		{"RoundTrip", testAuditRoundTrip},
		{"DuplicateID", testAuditDuplicate},
		{"Filter", testAuditFilter},
		{"Retention", testAuditRetention},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, implements[storage.AuditStore](t, open(t))) })
	}
}

func auditEvent(id, user string, at time.Time) storage.AuditEvent {
	return storage.AuditEvent{ID: id, Time: at, Type: "login", Outcome: "success", User: user, ConnectorID: "local",
		ClientID: "app", IP: "192.0.2.1", RequestID: "req-" + id, Detail: map[string]string{"method": "pwd"}}
}

func testAuditRoundTrip(t *testing.T, s storage.AuditStore) {
	ctx := ctxFor(t)
	at := baseTime()
	want := auditEvent("e1", "alice", at)
	wantErr(t, "append", s.AppendAuditEvent(ctx, want), nil)
	wantErr(t, "append without detail", s.AppendAuditEvent(ctx, storage.AuditEvent{ID: "e2", Time: at.Add(time.Second), Type: "logout"}), nil)
	got, err := s.ListAuditEvents(ctx, storage.AuditFilter{})
	wantErr(t, "list", err, nil)
	if len(got) != 2 {
		t.Fatalf("listed %d events, want 2", len(got))
	}
	e := got[0]
	if e.Time.Location() != time.UTC || !e.Time.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("time = %v, want %v in UTC", e.Time, at.Truncate(time.Millisecond))
	}
	e.Time = want.Time
	if fmt.Sprint(e) != fmt.Sprint(want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", e, want)
	}
	if got[1].ID != "e2" || len(got[1].Detail) != 0 {
		t.Errorf("second event = %+v, want e2 without detail", got[1])
	}
}

func testAuditDuplicate(t *testing.T, s storage.AuditStore) {
	ctx := ctxFor(t)
	e := auditEvent("dup", "alice", baseTime())
	wantErr(t, "append", s.AppendAuditEvent(ctx, e), nil)
	if err := s.AppendAuditEvent(ctx, e); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("second append of one ID: %v, want ErrAlreadyExists", err)
	}
}

func testAuditFilter(t *testing.T, s storage.AuditStore) {
	ctx := ctxFor(t)
	at := baseTime()
	for i, u := range []string{"alice", "bob", "alice", "carol", "alice"} {
		wantErr(t, "append", s.AppendAuditEvent(ctx, auditEvent(fmt.Sprintf("f%d", i), u, at.Add(time.Duration(i)*time.Minute))), nil)
	}
	tests := []struct {
		name   string
		filter storage.AuditFilter
		want   []string
	}{
		{"all", storage.AuditFilter{}, []string{"f0", "f1", "f2", "f3", "f4"}},
		{"user", storage.AuditFilter{User: "alice"}, []string{"f0", "f2", "f4"}},
		{"unknown user", storage.AuditFilter{User: "mallory"}, nil},
		{"since (inclusive)", storage.AuditFilter{Since: at.Add(2 * time.Minute)}, []string{"f2", "f3", "f4"}},
		{"user and since", storage.AuditFilter{User: "alice", Since: at.Add(time.Minute)}, []string{"f2", "f4"}},
		{"limit keeps the newest", storage.AuditFilter{Limit: 2}, []string{"f3", "f4"}},
		{"user prefix is no match", storage.AuditFilter{User: "ali"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAuditEvents(ctx, tt.filter)
			wantErr(t, "list", err, nil)
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Errorf("ListAuditEvents(%+v) = %v, want %v", tt.filter, ids, tt.want)
			}
		})
	}
}

func testAuditRetention(t *testing.T, s storage.AuditStore) {
	ctx := ctxFor(t)
	at := baseTime()
	for i := range 4 {
		wantErr(t, "append", s.AppendAuditEvent(ctx, auditEvent(fmt.Sprintf("r%d", i), "alice", at.Add(time.Duration(i)*time.Hour))), nil)
	}
	n, err := s.DeleteAuditEventsBefore(ctx, at.Add(2*time.Hour))
	wantErr(t, "delete", err, nil)
	if n != 2 {
		t.Errorf("deleted %d events, want 2 (strictly older than the cutoff)", n)
	}
	got, err := s.ListAuditEvents(ctx, storage.AuditFilter{})
	wantErr(t, "list", err, nil)
	if len(got) != 2 || got[0].ID != "r2" {
		t.Errorf("left %+v, want r2 and r3", got)
	}
}
