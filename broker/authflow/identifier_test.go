package authflow

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/config"
)

// TestParseIdentifier: what the identifier page accepts, and the message for what it refuses.
func TestParseIdentifier(t *testing.T) {
	for _, tt := range []struct {
		raw, identifier, domain, problem string
	}{
		{"alice", "alice", "", ""},
		{"  alice  ", "alice", "", ""},
		{"Bob@Corp.Example", "Bob@Corp.Example", "corp.example", ""},
		{"o'brien+tag@corp.example", "o'brien+tag@corp.example", "corp.example", ""},
		{"jürgen@corp.example", "jürgen@corp.example", "corp.example", ""},
		{"DOMAIN\\alice", "DOMAIN\\alice", "", ""}, // a down-level logon name is a username
		{"", "", "", msgIdentifierEmpty},
		{" \t ", "", "", msgIdentifierEmpty},
		{strings.Repeat("a", MaxIdentifierLen+1), "", "", msgIdentifierTooLong},
		{strings.Repeat("a", 65) + "@corp.example", "", "", msgIdentifierMalformed},
		{"@corp.example", "", "", msgIdentifierMalformed},
		{"bob@", "", "", msgIdentifierMalformed},
		{"bob@corp", "", "", msgIdentifierMalformed},
		{"bob@corp..example", "", "", msgIdentifierMalformed},
		{"bob@[127.0.0.1]", "", "", msgIdentifierMalformed},
		{`"bob smith"@corp.example`, "", "", msgIdentifierMalformed},
		{"<b>@corp.example", "", "", msgIdentifierMalformed},
		{"a@b@corp.example", "", "", msgIdentifierMalformed},
		{"bob\n@corp.example", "", "", msgIdentifierMalformed},
		{"ali\x00ce", "", "", msgIdentifierMalformed},
		{"ali\xffce", "", "", msgIdentifierMalformed},
	} {
		id, dom, problem := ParseIdentifier(tt.raw)
		if id != tt.identifier || dom != tt.domain || problem != tt.problem {
			t.Errorf("ParseIdentifier(%q) = %q, %q, %q; want %q, %q, %q", tt.raw, id, dom, problem, tt.identifier, tt.domain, tt.problem)
		}
	}
}

// FuzzParseIdentifier: never panics; an accepted identifier is trimmed, bounded, valid UTF-8
// without control characters, and its domain (when it has one) is a configurable domain
// that the identifier ends with.
func FuzzParseIdentifier(f *testing.F) {
	for _, s := range []string{"alice", "bob@corp.example", "@", "a@b", " x@Y.Z ", "\xff", strings.Repeat("@", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		id, dom, problem := ParseIdentifier(raw)
		if problem != "" {
			if id != "" || dom != "" {
				t.Fatalf("refused %q but returned %q, %q", raw, id, dom)
			}
			return
		}
		if id == "" || len(id) > MaxIdentifierLen || !utf8.ValidString(id) || strings.TrimSpace(id) != id {
			t.Fatalf("accepted %q as %q", raw, id)
		}
		if dom != "" && (!config.DomainOK(dom) || !strings.HasSuffix(strings.ToLower(id), "@"+dom)) {
			t.Fatalf("accepted %q with domain %q", raw, dom)
		}
	})
}
