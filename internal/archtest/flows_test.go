package archtest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// extPrefix marks a package outside the module and the standard library in a flowGraph
// ("ext:github.com/crewjam/saml"); it is a leaf.
const extPrefix = "ext:"

// flowRules are the broker redesign's rules (issue 14) over the flow packages below broker/,
// checked like forbidden (directly or through other Gatehouse packages). A rule about a
// package that does not exist yet checks nothing until it lands.
var flowRules = []edgeRule{
	{
		From: "broker/authflow/...",
		To:   []string{"broker/oidc/...", "broker/samlidp/...", extPrefix + "github.com/crewjam/saml/..."},
		Why:  "the login flow is protocol-neutral: it ends through the responder interface and never tests for SAML",
	},
}

// sharedBrokerPackages are the packages below broker/ that every flow package may import:
// page rendering, routing, tokens, the runtime connector records, OAuth errors, request
// parsing, client lookup and DPoP proof validation. Every other package directly below
// broker/ is a flow package.
var sharedBrokerPackages = []string{"pages", "route", "opaque", "connset", "oauth2err", "authreq", "clients", "dpop"}

// flowImportExceptions are the flow-to-flow imports allowed ("from -> to", flow names).
var flowImportExceptions = []string{
	"samlidp -> logout", // single logout of SAML participants is part of the logout fan-out
	// introspection checks access tokens with userinfo's Verifier; moving the Verifier below
	// the flows (a shared package) would drop this exception.
	"grants -> userinfo",
	"brokertest -> *", // the test harness builds the broker as serve does
}

// flowOf returns the flow package a module package belongs to ("account" for broker/account
// and broker/account/x), or "" for the root broker package, shared packages and anything
// outside broker/.
func flowOf(rel string) string {
	rest, ok := strings.CutPrefix(rel, "broker/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	if slices.Contains(sharedBrokerPackages, name) {
		return ""
	}
	return name
}

// flowImportViolations returns one line per direct import of a flow package by another
// package below broker/ (its own sub-packages aside): the root package broker is the only
// one that assembles the flows.
func flowImportViolations(graph map[string][]string) []string {
	var out []string
	froms := make([]string, 0, len(graph))
	for p := range graph {
		froms = append(froms, p)
	}
	sort.Strings(froms)
	for _, from := range froms {
		if !strings.HasPrefix(from, "broker/") {
			continue // the root package and cmd assemble the flows
		}
		deps := slices.Clone(graph[from])
		sort.Strings(deps)
		for _, to := range deps {
			src, dst := flowOf(from), flowOf(to)
			if dst == "" || src == dst || slices.Contains(flowImportExceptions, src+" -> "+dst) ||
				slices.Contains(flowImportExceptions, src+" -> *") {
				continue
			}
			out = append(out, fmt.Sprintf("%s must not import %s: only the root package broker assembles the flow packages "+
				"(a flow package imports %s and nothing else below broker/)", from, to, strings.Join(sharedBrokerPackages, ", ")))
		}
	}
	return out
}

// flowGraph is the module's import graph with packages outside the module and the standard
// library as extPrefix leaves.
func flowGraph(t *testing.T) (map[string][]string, map[string]*pkg) {
	pkgs, mod := listPackages(t)
	graph := make(map[string][]string, len(pkgs))
	for rel, p := range pkgs {
		var deps []string
		for _, imp := range p.Imports {
			if r, ok := relPath(mod, imp); ok {
				deps = append(deps, r)
			} else if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
				deps = append(deps, extPrefix+imp)
			}
		}
		graph[rel] = deps
	}
	return graph, pkgs
}

// TestFlowRules enforces flowRules and the flow-import rule on the module's non-test imports.
func TestFlowRules(t *testing.T) {
	graph, pkgs := flowGraph(t)
	for _, v := range violations(graph, flowRules) {
		t.Error(v)
	}
	for _, v := range flowImportViolations(graph) {
		t.Error(v)
	}
	for _, r := range flowRules {
		found := false
		for rel := range pkgs {
			found = found || match(r.From, rel)
		}
		if !found {
			t.Logf("rule for %s checks nothing yet: no such package", r.From)
		}
	}
}

// TestFlowViolations checks the flow rules on synthetic graphs: each rule fires, and the
// allowed imports pass.
func TestFlowViolations(t *testing.T) {
	tests := []struct {
		name  string
		graph map[string][]string
		want  []string // substrings, one per expected violation, in order
	}{
		{
			name: "allowed: root assembles, flows use shared packages, samlidp uses logout",
			graph: map[string][]string{
				"broker":            {"broker/authflow", "broker/oidc", "broker/samlidp", "broker/account", "broker/grants", "broker/logout"},
				"broker/authflow":   {"broker/pages", "broker/route", "broker/opaque", "broker/connset", "broker/oauth2err", "broker/authreq", "broker/clients", "session", "claims"},
				"broker/oidc":       {"broker/pages", "broker/oauth2err"},
				"broker/samlidp":    {"broker/logout", "ext:github.com/crewjam/saml", "broker/pages"},
				"broker/samlidp/x":  {"broker/samlidp"},
				"broker/logout":     {"broker/pages"},
				"broker/account":    {"broker/pages", "broker/route", "broker/connset", "mfa"},
				"broker/grants":     {"broker/clients", "broker/opaque"},
				"broker/brokertest": {"broker", "broker/authflow"},
				"broker/pages":      {"web"},
				"cmd/gatehouse":     {"broker", "broker/samlidp"},
			},
		},
		{
			name:  "authflow imports the SAML responder",
			graph: map[string][]string{"broker/authflow": {"broker/samlidp"}, "broker/samlidp": nil},
			want: []string{
				"broker/authflow must not depend on broker/samlidp (broker/authflow -> broker/samlidp): the login flow is protocol-neutral",
				"broker/authflow must not import broker/samlidp: only the root package broker",
			},
		},
		{
			name: "authflow reaches crewjam/saml through a shared package",
			graph: map[string][]string{
				"broker/authflow": {"broker/authreq"},
				"broker/authreq":  {"ext:github.com/crewjam/saml/samlsp"},
			},
			want: []string{"broker/authflow must not depend on ext:github.com/crewjam/saml/samlsp (broker/authflow -> broker/authreq -> ext:github.com/crewjam/saml/samlsp)"},
		},
		{
			name:  "authflow imports the OIDC responder",
			graph: map[string][]string{"broker/authflow/steps": {"broker/oidc"}, "broker/oidc": nil},
			want: []string{
				"broker/authflow/steps must not depend on broker/oidc",
				"broker/authflow/steps must not import broker/oidc",
			},
		},
		{
			name:  "one flow imports another",
			graph: map[string][]string{"broker/account": {"broker/authflow"}, "broker/authflow": nil},
			want:  []string{"broker/account must not import broker/authflow"},
		},
		{
			name:  "logout imports samlidp (the exception is one way)",
			graph: map[string][]string{"broker/logout": {"broker/samlidp"}, "broker/samlidp": {"broker/logout"}},
			want:  []string{"broker/logout must not import broker/samlidp"},
		},
		{
			name:  "userinfo imports grants (the exception is one way)",
			graph: map[string][]string{"broker/userinfo": {"broker/grants"}, "broker/grants": {"broker/userinfo"}},
			want:  []string{"broker/userinfo must not import broker/grants"},
		},
		{
			name:  "a shared package imports a flow",
			graph: map[string][]string{"broker/pages": {"broker/account"}, "broker/account": nil},
			want:  []string{"broker/pages must not import broker/account"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := append(violations(tt.graph, flowRules), flowImportViolations(tt.graph)...)
			if len(got) != len(tt.want) {
				t.Fatalf("violations = %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("violation %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}
