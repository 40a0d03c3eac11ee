package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunUpstreamSessions runs the conformance tests of the optional storage.UpstreamSessions
// (the SSO sessions of an upstream session, for upstream-initiated logout).
func RunUpstreamSessions(t *testing.T, open func(t *testing.T) storage.Storage) {
	st := open(t)
	us := implements[storage.UpstreamSessions](t, st)
	ctx := ctxFor(t)
	now := baseTime()
	for _, s := range []struct {
		id, connector, sub, sid string
		idle                    time.Duration
	}{
		{"a1", "corp", "alice", "sid-1", time.Hour},
		{"a2", "corp", "alice", "sid-2", time.Hour},
		{"a3", "corp", "alice", "", time.Hour},
		{"a-old", "corp", "alice", "sid-1", -time.Minute},
		{"a-other", "social", "alice", "sid-1", time.Hour},
		{"b1", "corp", "bob", "sid-b", time.Hour},
		{"b2", "corp", "bob", "sid-1", time.Hour}, // another user reusing a sid value
	} {
		sess := storage.Session{ID: s.id, Identity: storage.Identity{Subject: "u-" + s.sub},
			Auth: storage.Authentication{ConnectorID: s.connector, UpstreamSubject: s.sub, UpstreamSessionID: s.sid,
				ConnectorData: []byte(`{"it":"raw id token"}`)},
			CreatedAt: now, LastUsed: now, IdleExpiry: now.Add(s.idle), AbsoluteExpiry: now.Add(2 * time.Hour)}
		wantErr(t, "create session "+s.id, st.CreateSession(ctx, sess), nil)
	}
	tests := []struct {
		name, connector, sub, sid string
		at                        time.Time
		want                      []string
	}{
		{"sid and sub", "corp", "alice", "sid-1", now, []string{"a1"}},
		{"sid alone: every user with it", "corp", "", "sid-1", now, []string{"a1", "b2"}},
		{"sub alone: every session of the user", "corp", "alice", "", now, []string{"a1", "a2", "a3"}},
		{"sub of another connector", "social", "alice", "", now, []string{"a-other"}},
		{"sid of another user", "corp", "bob", "sid-2", now, nil},
		{"unknown connector", "nope", "alice", "sid-1", now, nil},
		{"exact match only", "corp", "ALICE", "", now, nil},
		{"sid prefix is no match", "corp", "", "sid", now, nil},
		{"nothing named", "corp", "", "", now, nil},
		{"expired later", "corp", "alice", "", now.Add(3 * time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := us.SessionsOfUpstream(ctx, tt.connector, tt.sub, tt.sid, tt.at)
			wantErr(t, "sessions of upstream", err, nil)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("SessionsOfUpstream(%q, %q, %q) = %v, want %v", tt.connector, tt.sub, tt.sid, got, tt.want)
			}
		})
	}
}
