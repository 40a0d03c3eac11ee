package storage

import (
	"strings"
	"testing"
)

func TestOpName(t *testing.T) {
	tests := []struct{ query, want string }{
		{"SELECT id, at FROM audit_events WHERE user_id = ?", "select audit_events"},
		{"  select count(*)\n\tfrom rate_attempts where key = $1", "select rate_attempts"},
		{"INSERT INTO audit_events (id) VALUES (?)", "insert audit_events"},
		{"INSERT OR REPLACE INTO rate_attempts (key) VALUES (?)", "insert rate_attempts"},
		{"UPDATE grants SET revoked = 1", "update grants"},
		{"DELETE FROM sessions WHERE id = ?", "delete sessions"},
		{"DELETE FROM \"quoted\"", "delete"},
		{"WITH x AS (SELECT 1) SELECT * FROM x", "with"},
		{"tx", "tx"},
		{"", "other"},
		{"SELECT 1", "select"},
		{"SELECT * FROM t(", "select t"},
		{"supercalifragilisticexpialidocious", "other"},
		{"UPDATE", "update"},
	}
	for _, tt := range tests {
		if got := OpName(tt.query); got != tt.want {
			t.Errorf("OpName(%q) = %q, want %q", tt.query, got, tt.want)
		}
	}
}

// FuzzOpName: whatever the statement, the name is short, lowercase identifier words (a
// bounded label).
func FuzzOpName(f *testing.F) {
	for _, s := range []string{"SELECT a FROM b", "insert into x", "UPDATE y SET", "", "DELETE FROM (", "with"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := OpName(q)
		if len(got) > 6+1+40 || got == "" {
			t.Fatalf("OpName(%q) = %q: empty or too long", q, got)
		}
		if strings.Count(got, " ") > 1 {
			t.Fatalf("OpName(%q) = %q: more than two words", q, got)
		}
	})
}
