package claims

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Attack (issue 25.8): `groups.map(g, "%s:%s".format([name, g]))` passed the load-time cost
// estimate, and at login format's output was never charged, so a long name times many groups
// allocated hundreds of MiB. The same expression written with + stops at the cost limit;
// every string-building extension function must stop there too.
func TestStringBuildingChargedAtRuntime(t *testing.T) {
	name := strings.Repeat("n", 32<<10) // within MaxUpstreamValueBytes
	groups := make([]string, 1000)
	for i := range groups {
		groups[i] = "g"
	}
	for _, tc := range []struct{ name, src string }{
		{"format", `groups.map(g, "%s".format([name]))`}, // within the load-time estimate
		{"plus", `groups.map(g, name + ":" + g)`},
		{"join", `groups.map(g, [name, g].join(":"))`},
		{"upper", `groups.map(g, name.upperAscii())`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := newEnv(upstreamVars)
			if err != nil {
				t.Fatal(err)
			}
			e, err := compile(env, "groups", tc.src)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			_, err = e.eval(context.Background(), map[string]any{
				"subject": "s", "username": "", "email": "", "email_verified": false, "name": name,
				"groups": groups, "attrs": map[string][]string{}, "acr": "", "amr": []string{},
			})
			if err == nil || !isLimitError(err) {
				t.Fatalf("eval: err = %v, want the cost limit", err)
			}
		})
	}
}

// Attack (issue 25.8): an expression whose result is enormous without being expensive to
// compute (one long value repeated per group) entered the identity and the tokens unbounded.
func TestExpressionResultSizeCapped(t *testing.T) {
	n := newTest(t, connectorYAML+`      map:
        groups: "groups.map(g, name)"
`)
	groups := make([]string, 2000)
	for i := range groups {
		groups[i] = "g"
	}
	up := connectors.Upstream{Subject: "s", Name: strings.Repeat("n", 16<<10), Groups: groups}
	_, err := n.Normalize(context.Background(), "corp", up)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Normalize: err = %v, want a result size error", err)
	}
	up.Groups = groups[:2]
	if _, err := n.Normalize(context.Background(), "corp", up); err != nil {
		t.Fatalf("small result: %v", err)
	}
}

// Attack (issue 25.8): upstream values entering the pipeline were unbounded (any number of
// groups or attributes, of any length). Too much is a clear login refusal, never a silent
// truncation of groups.
func TestUpstreamSizeCapped(t *testing.T) {
	many := func(n int, v string) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	long := strings.Repeat("x", MaxUpstreamValueBytes+1)
	attrs := map[string][]string{}
	for i := range MaxUpstreamAttrs + 1 {
		attrs["a"+strconv.Itoa(i)] = []string{"v"}
	}
	for _, tc := range []struct {
		name string
		up   connectors.Upstream
	}{
		{"groups count", connectors.Upstream{Subject: "s", Groups: many(MaxUpstreamGroups+1, "g")}},
		{"group length", connectors.Upstream{Subject: "s", Groups: []string{long}}},
		{"name length", connectors.Upstream{Subject: "s", Name: long}},
		{"subject length", connectors.Upstream{Subject: long}},
		{"attribute count", connectors.Upstream{Subject: "s", Attrs: attrs}},
		{"attribute values", connectors.Upstream{Subject: "s", Attrs: map[string][]string{"a": many(MaxUpstreamAttrValues+1, "v")}}},
		{"attribute value length", connectors.Upstream{Subject: "s", Attrs: map[string][]string{"a": {long}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _ := newNormalizer()
			_, err := n.Normalize(context.Background(), "corp", tc.up)
			var denied *connectors.DeniedError
			if !errors.As(err, &denied) || !strings.Contains(denied.Reason, "more") {
				t.Fatalf("Normalize: err = %v, want a DeniedError naming the limit", err)
			}
		})
	}
	n, _ := newNormalizer()
	ok := connectors.Upstream{Subject: "s", Groups: many(MaxUpstreamGroups, "g"), Name: long[:MaxUpstreamValueBytes]}
	if _, err := n.Normalize(context.Background(), "corp", ok); err != nil {
		t.Fatalf("at the limits: %v", err)
	}
}

// Attack (issue 25.8): format's load-time estimate counted only the format string, so
// `groups.map(g, "%s:%s".format([name, g]))` passed check-config (estimated cost 25k). Its
// arguments are counted now, and the expression is refused at load with the cost error.
func TestFormatEstimatedAtLoad(t *testing.T) {
	env, err := newEnv(upstreamVars)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compile(env, "groups", `groups.map(g, "%s:%s".format([name, g]))`); err == nil || !strings.Contains(err.Error(), "too expensive") {
		t.Fatalf("compile: err = %v, want the estimated cost refused", err)
	}
	for _, ok := range []string{`"%s@corp".format([username])`, `groups.map(g, "grp:%s".format([g]))`} {
		if _, err := compile(env, "x", ok); err != nil {
			t.Errorf("compile %s: %v", ok, err)
		}
	}
}
