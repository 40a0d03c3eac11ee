package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// edgeRule forbids packages matching From (minus FromExcept) to depend, directly or through
// other Gatehouse packages, on packages matching To (minus ToExcept). Patterns are paths
// relative to the module root; "x/..." matches x and everything below it, "..." matches
// every package of the module. A standard-library package is named with the std: prefix
// ("std:html/template") and matched only by its exact name.
type edgeRule struct {
	From       string
	FromExcept []string
	To         []string
	ToExcept   []string
	Why        string
}

// forbidden is the dependency rule of DESIGN.md ("Layout and the dependency rule") and
// STYLE.md 8.1, as one table. Allowed edges are everything not listed here:
// cmd -> anything; broker -> {session, tokens, claims, connectors, storage, web};
// tokens -> {claims, storage}; claims -> {connectors, storage}; session -> storage;
// mfa -> storage (broker -> mfa).
var forbidden = []edgeRule{
	{
		From: "connectors/...",
		To:   []string{"broker/...", "session/...", "tokens/...", "claims/...", "storage/...", "cmd/..."},
		Why:  "a connector gets what it needs (HTTP client, logger, callback URL, stash) through Deps and method arguments",
	},
	{
		From: "storage/...",
		To:   []string{"broker/...", "connectors/...", "claims/...", "session/...", "tokens/...", "mfa/..."},
		Why:  "storage is the bottom tier: records and stores only",
	},
	{
		From:     "config/...",
		To:       []string{"..."},
		ToExcept: []string{"config/..."},
		Why:      "config imports no Gatehouse package; everything may import config's value types",
	},
	{
		From: "tokens/...",
		To:   []string{"broker/...", "session/..."},
		Why:  "tokens -> {claims, storage} only",
	},
	{
		From: "claims/...",
		To:   []string{"broker/...", "session/...", "tokens/..."},
		Why:  "claims -> {connectors, storage} only",
	},
	{
		From: "mfa/...",
		To:   []string{"broker/...", "session/...", "tokens/...", "claims/...", "connectors/..."},
		Why:  "mfa -> storage only; the broker drives its pages",
	},
	{
		From: "session/...",
		To:   []string{"broker/...", "tokens/...", "claims/...", "connectors/..."},
		Why:  "session -> storage only",
	},
	{
		From: "broker/grants",
		To:   []string{"std:html/template", "broker/pages/...", "web/..."},
		Why:  "the token endpoints answer JSON only: no templates, no HTML pages",
	},
	{
		From:       "...",
		FromExcept: []string{"cmd/..."},
		To:         []string{"cmd/..."},
		Why:        "cmd is the only wiring site; nothing imports it",
	},
}

// bannedNames are catch-all package names (STYLE.md review red flags).
var bannedNames = []string{"util", "utils", "common", "helper", "helpers"}

// pkg is the part of `go list -json` output the checks read.
type pkg struct {
	ImportPath string
	Name       string
	Dir        string
	Doc        string
	GoFiles    []string
	CgoFiles   []string
	Imports    []string // non-test imports only
	Standard   bool
	DepOnly    bool
	Error      *struct{ Err string }
}

// moduleRoot walks up from the working directory to the directory holding go.mod and
// returns it with the module path.
func moduleRoot(t *testing.T) (dir, modPath string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "module" {
					return dir, strings.Trim(f[1], `"`)
				}
			}
			t.Fatalf("%s/go.mod has no module line", dir)
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// listPackages runs `go list -e -deps -json ./...` at the module root and returns the
// module's own packages by relative path ("" for the root package).
func listPackages(t *testing.T) (map[string]*pkg, string) {
	t.Helper()
	root, mod := moduleRoot(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), goBin, "list", "-e", "-deps", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		rel, ok := relPath(mod, p.ImportPath)
		if !ok || p.Standard {
			continue
		}
		if p.Error != nil {
			// Someone's package may be mid-edit; its imports are still what the files say.
			t.Logf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs[rel] = p
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list found no packages of module %s", mod)
	}
	return pkgs, mod
}

// relPath returns the module-relative path of an import path, if it is in the module.
func relPath(mod, importPath string) (string, bool) {
	if importPath == mod {
		return "", true
	}
	if rest, ok := strings.CutPrefix(importPath, mod+"/"); ok {
		return rest, true
	}
	return "", false
}

// stdPrefix marks a standard-library package among the module's packages in a graph.
const stdPrefix = "std:"

// match reports whether the module-relative package path (or std:-prefixed standard-library
// package) matches the pattern.
func match(pattern, rel string) bool {
	if pattern == "..." {
		return !strings.HasPrefix(rel, stdPrefix)
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return rel == base || strings.HasPrefix(rel, base+"/")
	}
	return rel == pattern
}

func matchAny(patterns []string, rel string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, rel) })
}

// violations checks the rules against a graph of module packages (relative path -> relative
// paths of the module packages it imports) and returns one line per forbidden dependency,
// with the import chain that creates it.
func violations(graph map[string][]string, rules []edgeRule) []string {
	var out []string
	froms := make([]string, 0, len(graph))
	for p := range graph {
		froms = append(froms, p)
	}
	sort.Strings(froms)
	for _, from := range froms {
		// Breadth-first over module-internal imports, remembering how each package was reached.
		via := map[string]string{from: ""}
		queue := []string{from}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			next := slices.Clone(graph[cur])
			sort.Strings(next)
			for _, n := range next {
				if _, seen := via[n]; !seen {
					via[n] = cur
					queue = append(queue, n)
				}
			}
		}
		reached := make([]string, 0, len(via))
		for p := range via {
			if p != from {
				reached = append(reached, p)
			}
		}
		sort.Strings(reached)
		for _, r := range rules {
			if !match(r.From, from) || matchAny(r.FromExcept, from) {
				continue
			}
			for _, to := range reached {
				if !matchAny(r.To, to) || matchAny(r.ToExcept, to) {
					continue
				}
				chain := []string{to}
				for p := via[to]; p != ""; p = via[p] {
					chain = append(chain, p)
				}
				slices.Reverse(chain)
				out = append(out, fmt.Sprintf("%s must not depend on %s (%s): %s",
					show(from), show(to), strings.Join(mapSlice(chain, show), " -> "), r.Why))
			}
		}
	}
	return out
}

func show(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

func mapSlice(in []string, f func(string) string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}

// TestDependencyRule enforces the forbidden edges on the module's non-test imports.
func TestDependencyRule(t *testing.T) {
	pkgs, mod := listPackages(t)
	graph := make(map[string][]string, len(pkgs))
	for rel, p := range pkgs {
		var deps []string
		for _, imp := range p.Imports {
			if r, ok := relPath(mod, imp); ok {
				deps = append(deps, r)
			} else if first, _, _ := strings.Cut(imp, "/"); !strings.Contains(first, ".") {
				deps = append(deps, stdPrefix+imp) // standard library: a leaf of the graph
			}
		}
		graph[rel] = deps
	}
	edges := 0
	for _, d := range graph {
		edges += len(d)
	}
	t.Logf("%d packages, %d import edges inside the module", len(graph), edges)
	for _, v := range violations(graph, forbidden) {
		t.Error(v)
	}
	// Keep the table honest: every From pattern other than "..." names something that exists
	// or is planned; a typo would silently check nothing.
	for _, r := range forbidden {
		if r.From == "..." {
			continue
		}
		found := false
		for rel := range pkgs {
			found = found || match(r.From, rel)
		}
		if !found {
			t.Errorf("rule for %s matches no package (typo, or the package was renamed?)", r.From)
		}
	}
}

// TestPackageDocs requires a package doc comment ("Package name ...") on every non-main
// package of the module.
func TestPackageDocs(t *testing.T) {
	pkgs, _ := listPackages(t)
	for rel, p := range pkgs {
		if p.DepOnly || p.Name == "main" || len(p.GoFiles)+len(p.CgoFiles) == 0 {
			continue
		}
		switch {
		case p.Doc == "":
			t.Errorf("%s: package %s has no package doc comment (add a doc.go saying what it owns)", show(rel), p.Name)
		case !strings.HasPrefix(p.Doc, "Package "+p.Name+" "):
			t.Errorf("%s: package doc should start with %q, got %q", show(rel), "Package "+p.Name+" ", p.Doc)
		}
	}
}

// TestPackageNames bans catch-all package names.
func TestPackageNames(t *testing.T) {
	pkgs, _ := listPackages(t)
	for rel, p := range pkgs {
		last := rel[strings.LastIndex(rel, "/")+1:]
		if slices.Contains(bannedNames, p.Name) || slices.Contains(bannedNames, last) {
			t.Errorf("%s: package name %q says nothing about what it owns; name it for its job", show(rel), p.Name)
		}
	}
}

// TestViolations checks the checker on a synthetic graph.
func TestViolations(t *testing.T) {
	tests := []struct {
		name  string
		graph map[string][]string
		want  []string // substrings, one per expected violation, in order
	}{
		{
			name: "allowed layering",
			graph: map[string][]string{
				"cmd/gatehouse":    {"broker", "config", "connectors/local", "storage/sqlite"},
				"broker":           {"session", "tokens", "claims", "connectors", "storage", "web", "broker/oauth2err"},
				"broker/oauth2err": nil,
				"tokens":           {"claims", "storage"},
				"claims":           {"connectors", "storage"},
				"session":          {"storage"},
				"connectors":       {"config"},
				"connectors/local": {"connectors"},
				"storage/sqlite":   {"storage"},
				"storage":          nil,
				"config":           nil,
				"config/sub":       {"config"},
				"web":              nil,
			},
		},
		{
			name:  "connector imports storage directly",
			graph: map[string][]string{"connectors/ldap": {"storage"}, "storage": nil},
			want:  []string{"connectors/ldap must not depend on storage (connectors/ldap -> storage)"},
		},
		{
			name: "transitive edge is reported with its chain",
			graph: map[string][]string{
				"session":         {"internal/cookie"},
				"internal/cookie": {"tokens"},
				"tokens":          nil,
			},
			want: []string{"session must not depend on tokens (session -> internal/cookie -> tokens)"},
		},
		{
			name:  "config imports a Gatehouse package",
			graph: map[string][]string{"config": {"internal/secret"}, "internal/secret": nil},
			want:  []string{"config must not depend on internal/secret"},
		},
		{
			name:  "anything importing cmd",
			graph: map[string][]string{"broker": {"cmd/gatehouse/flags"}, "cmd/gatehouse": {"cmd/gatehouse/flags"}, "cmd/gatehouse/flags": nil},
			want:  []string{"broker must not depend on cmd/gatehouse/flags"},
		},
		{
			name:  "storage backend imports broker",
			graph: map[string][]string{"storage/postgres": {"broker/oauth2err"}, "broker/oauth2err": nil},
			want:  []string{"storage/postgres must not depend on broker/oauth2err"},
		},
		{
			name:  "claims imports session",
			graph: map[string][]string{"claims": {"session"}, "session": {"storage"}, "storage": nil},
			want:  []string{"claims must not depend on session"},
		},
		{
			name: "grants renders a page",
			graph: map[string][]string{
				"broker/grants": {"std:html/template", "broker/pages"},
				"broker/pages":  {"web"},
				"web":           {"std:html/template"},
			},
			want: []string{
				"broker/grants must not depend on broker/pages",
				"broker/grants must not depend on std:html/template (broker/grants -> std:html/template)",
				"broker/grants must not depend on web (broker/grants -> broker/pages -> web)",
			},
		},
		{
			name:  "config imports only the standard library",
			graph: map[string][]string{"config": {"std:fmt", "std:strings"}},
		},
		{
			name:  "prefix is not a subtree",
			graph: map[string][]string{"connectorsx": {"storage"}, "storage": nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := violations(tt.graph, forbidden)
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

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, rel string
		want         bool
	}{
		{"...", "anything/at/all", true},
		{"...", "", true},
		{"connectors/...", "connectors", true},
		{"connectors/...", "connectors/ldap", true},
		{"connectors/...", "connectorsx", false},
		{"config", "config", true},
		{"config", "config/sub", false},
		{"...", "std:fmt", false},
		{"std:html/template", "std:html/template", true},
		{"std:html/...", "std:html/template", true},
	}
	for _, tt := range tests {
		if got := match(tt.pattern, tt.rel); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.rel, got, tt.want)
		}
	}
}
