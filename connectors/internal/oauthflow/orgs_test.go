package oauthflow

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// TestRestrictOrgs: a rule admits members of its org (case-insensitively, in the rule's
// spelling), a rule with teams only members of one of them (by any of the team's names), and
// a user no rule admits is denied with a message naming the orgs and teams required.
func TestRestrictOrgs(t *testing.T) {
	member := func(o string) bool { return strings.EqualFold(o, "acme") || strings.EqualFold(o, "hobby") }
	teams := []OrgTeam{
		{Org: "acme", Names: []string{"plat", "Platform"}, Groups: []string{"plat"}},
		{Org: "ACME", Names: []string{"web"}, Groups: []string{"web"}},
		{Org: "other", Names: []string{"plat"}, Groups: []string{"plat"}},
	}
	got, err := RestrictOrgs("Forge", []OrgRule{{Name: "Acme", Teams: []string{"platform"}}, {Name: "hobby"}, {Name: "nope"}}, member, teams)
	if err != nil || !slices.Equal(got, []string{"Acme", "Acme:plat", "hobby"}) {
		t.Fatalf("RestrictOrgs = %q, %v", got, err)
	}
	_, err = RestrictOrgs("Forge", []OrgRule{{Name: "acme", Teams: []string{"ops"}}, {Name: "nope"}}, member, teams)
	var de *connectors.DeniedError
	if !errors.As(err, &de) || de.Reason != "you are not a member of the Forge organization acme (teams ops) or the Forge organization nope" {
		t.Fatalf("RestrictOrgs denied = %v", err)
	}
}

// TestRequireGroups keeps only the required groups (folding case only when asked) and denies
// a user in none of them, naming them.
func TestRequireGroups(t *testing.T) {
	have := []string{"a", "B", "c"}
	if got, err := RequireGroups(have, nil, false, "X group"); err != nil || !slices.Equal(got, have) {
		t.Fatalf("no requirement: %q, %v", got, err)
	}
	if got, err := RequireGroups(have, []string{"b", "c"}, true, "X group"); err != nil || !slices.Equal(got, []string{"B", "c"}) {
		t.Fatalf("fold: %q, %v", got, err)
	}
	_, err := RequireGroups(have, []string{"b", "d"}, false, "X group")
	var de *connectors.DeniedError
	if !errors.As(err, &de) || de.Reason != "you are not a member of the X group b or d" {
		t.Fatalf("exact: %v", err)
	}
	if !slices.Equal(have, []string{"a", "B", "c"}) {
		t.Fatalf("have changed: %q", have)
	}
}
