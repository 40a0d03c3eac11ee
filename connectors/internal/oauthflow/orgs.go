package oauthflow

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// OrgRule is a configured organization whose members may sign in; with Teams, only members
// of those teams of it (the github and gitea connectors' orgs setting).
type OrgRule struct {
	Name  string   `yaml:"name"`
	Teams []string `yaml:"teams"`
}

// OrgTeam is a team the user is in, as RestrictOrgs needs it.
type OrgTeam struct {
	// Org is the team's organization.
	Org string
	// Names are what a configured team may match (case-insensitively): name, slug.
	Names []string
	// Groups are the team's group suffixes: each becomes the group "org:suffix".
	Groups []string
}

// RestrictOrgs applies the org/team restriction: for each rule whose org the user is a member
// of (isMember, case-insensitive on the caller's side) and, when the rule names teams, who is
// in one of them, it reports the group "org" and "org:team" for the user's teams there (the
// rule's spelling of the org). A user admitted by no rule gets a *connectors.DeniedError
// naming the required orgs and teams of provider ("GitHub").
func RestrictOrgs(provider string, rules []OrgRule, isMember func(org string) bool, teams []OrgTeam) ([]string, error) {
	var groups []string
	add := func(g string) {
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	for _, want := range rules {
		if !isMember(want.Name) {
			continue
		}
		var inOrg []OrgTeam
		for _, t := range teams {
			if strings.EqualFold(t.Org, want.Name) && (len(want.Teams) == 0 || slices.ContainsFunc(want.Teams, func(w string) bool {
				return slices.ContainsFunc(t.Names, func(n string) bool { return strings.EqualFold(w, n) })
			})) {
				inOrg = append(inOrg, t)
			}
		}
		if len(want.Teams) > 0 && len(inOrg) == 0 {
			continue
		}
		add(want.Name)
		for _, t := range inOrg {
			for _, g := range t.Groups {
				add(want.Name + ":" + g)
			}
		}
	}
	if len(groups) == 0 {
		return nil, &connectors.DeniedError{Reason: "you are not a member of " + describeOrgs(provider, rules)}
	}
	return groups, nil
}

// describeOrgs names the configured orgs and teams for users.
func describeOrgs(provider string, rules []OrgRule) string {
	parts := make([]string, 0, len(rules))
	for _, o := range rules {
		if len(o.Teams) > 0 {
			parts = append(parts, fmt.Sprintf("the %s organization %s (teams %s)", provider, o.Name, strings.Join(o.Teams, ", ")))
		} else {
			parts = append(parts, fmt.Sprintf("the %s organization %s", provider, o.Name))
		}
	}
	return strings.Join(parts, " or ")
}

// RequireGroups keeps the user's groups that are among required (case-insensitively with
// fold) and refuses a user in none of them with a *connectors.DeniedError naming them; what
// says what they are ("GitLab group"). Without required, have is returned as is.
func RequireGroups(have, required []string, fold bool, what string) ([]string, error) {
	if len(required) == 0 {
		return have, nil
	}
	same := func(a, b string) bool { return a == b }
	if fold {
		same = strings.EqualFold
	}
	kept := slices.DeleteFunc(slices.Clone(have), func(g string) bool {
		return !slices.ContainsFunc(required, func(r string) bool { return same(r, g) })
	})
	if len(kept) == 0 {
		return nil, &connectors.DeniedError{Reason: "you are not a member of the " + what + " " + strings.Join(required, " or ")}
	}
	return kept, nil
}
