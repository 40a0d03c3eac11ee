package assembly

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// TestGCEnforcesAuditRetention: the GC loop deletes audit events older than audit.retention
// and keeps the others.
func TestGCEnforcesAuditRetention(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gh.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	ages := map[string]time.Duration{"old": 2161 * time.Hour, "edge": 2159 * time.Hour, "new": time.Minute}
	for id, age := range ages {
		if err := st.AppendAuditEvent(t.Context(), storage.AuditEvent{ID: id, Time: now.Add(-age), Type: "login"}); err != nil {
			t.Fatal(err)
		}
	}
	gc(t.Context(), st, 2160*time.Hour, slog.New(slog.DiscardHandler))
	got, err := st.ListAuditEvents(t.Context(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "edge" || got[1].ID != "new" {
		t.Fatalf("after GC: %+v, want edge and new", got)
	}
}
