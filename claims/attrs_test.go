package claims

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// TestAttributesReadByRules proves that the claims pipeline tells a connector every
// attribute its map rules read with a constant key, however the rule spells the access
// (issue 20.1): before, the LDAP connector asked only for the attributes it maps itself and
// a rule such as attrs.employeeNumber[0] was silently dropped at login.
func TestAttributesReadByRules(t *testing.T) {
	tests := []struct {
		name, expr string
		want       []string
	}{
		{"select", `attrs.employeeNumber[0]`, []string{"employeeNumber"}},
		{"index", `attrs["departmentNumber"][0]`, []string{"departmentNumber"}},
		{"has macro", `has(attrs.title) ? attrs.title[0] : ""`, []string{"title"}},
		{"in", `"manager" in attrs ? "yes" : "no"`, []string{"manager"}},
		{"optional select", `attrs.?ou.orValue(["none"])[0]`, []string{"ou"}},
		{"optional index", `attrs[?"o"].orValue(["none"])[0]`, []string{"o"}},
		{"inside a comprehension", `groups.map(g, g + attrs.l[0])`, []string{"l"}},
		{"several, sorted, once each", `attrs.sn[0] + attrs.cn[0] + attrs["sn"][0]`, []string{"cn", "sn"}},
		{"computed key is unknowable", `attrs[username][0]`, nil},
		{"no attributes", `email`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTest(t, connectorYAML+"      map:\n        custom: '"+strings.ReplaceAll(tt.expr, "'", "''")+"'\n")
			if got := n.Attributes("corp"); !slices.Equal(got, tt.want) {
				t.Errorf("Attributes(corp) = %q, want %q", got, tt.want)
			}
		})
	}
	n := newTest(t, connectorYAML+"      map:\n        a: 'attrs.x[0]'\n        b: 'attrs.y[0]'\n")
	if got := n.Attributes("corp"); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("union over rules = %q", got)
	}
	if got := n.Attributes("other"); got != nil {
		t.Errorf("unknown connector: %q, want nil", got)
	}
}

// TestExplainHintsAtMissingAttribute proves that a claim whose attribute the upstream did
// not return is left out with a hint in the explain trace naming the attribute and why
// (issue 20.1), including the case where only the spelling differs.
func TestExplainHintsAtMissingAttribute(t *testing.T) {
	n := newTest(t, connectorYAML+"      map:\n        employee: 'attrs.employeeNumber[0]'\n")
	tests := []struct {
		name      string
		attrs     map[string][]string
		wantHint  string
		wantClaim bool
	}{
		{"absent", map[string][]string{"dn": {"uid=a"}}, "attrs.employeeNumber is not in the upstream identity: the upstream returned no value", false},
		{"other case", map[string][]string{"employeenumber": {"7"}}, `but "employeenumber" is`, false},
		{"present", map[string][]string{"employeeNumber": {"7"}}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := connectors.Upstream{Subject: "u1", Username: "ann", Attrs: tt.attrs}
			tr, err := n.Explain(context.Background(), "corp", up, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			notes := strings.Join(tr.Steps[0].Notes, "\n")
			if tt.wantHint != "" && !strings.Contains(notes, tt.wantHint) {
				t.Errorf("map notes lack %q:\n%s", tt.wantHint, notes)
			}
			if tt.wantHint == "" && strings.Contains(notes, "hint:") {
				t.Errorf("unexpected hint:\n%s", notes)
			}
			if _, ok := tr.Identity.Extra["employee"]; ok != tt.wantClaim {
				t.Errorf("employee claim present = %v, want %v", ok, tt.wantClaim)
			}
		})
	}
}

// TestUnknownVariableListsValidOnes proves that a rule naming a variable that does not
// exist is refused with the list of the variables of its environment (issue 20.6), for
// connector maps and client extras alike, and that an unknown function gets no such list.
func TestUnknownVariableListsValidOnes(t *testing.T) {
	tests := []struct {
		name, env, expr, want, notWant string
	}{
		{"connector map", "upstream", `attr.employeeNumber[0]`, `"attr" is not a variable here, the variables are: acr, amr, attrs, email, email_verified, groups, name, subject, username`, ""},
		{"client extra", "identity", `attrs.x[0]`, `"attrs" is not a variable here, the variables are: acr, amr, claims, connector, email, email_verified, groups, name, subject, username`, ""},
		{"unknown function", "upstream", `frobnicate(email)`, "undeclared reference to 'frobnicate'", "the variables are"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := upstreamVars
			if tt.env == "identity" {
				vars = identityVars
			}
			env, err := newEnv(vars)
			if err != nil {
				t.Fatal(err)
			}
			_, err = compile(env, "custom", tt.expr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("compile(%s) = %v, want an error containing %q", tt.expr, err, tt.want)
			}
			if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("error %q should not contain %q", err, tt.notWant)
			}
		})
	}
}
