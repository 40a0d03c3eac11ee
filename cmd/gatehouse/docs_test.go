package main

import (
	"bytes"
	"context"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The tests in this file keep docs/connectors/*.md and docs/cel.md honest: every connector
// type the binary registers has a page linked from README.md, every YAML example on those
// pages passes check-config (strict keys, each connector's Validate, the claims rules and the
// claims_tests written into the example), and every `claims explain` output printed on a page
// is what the command prints today for the page's configuration and input.

// docsDir is the repository's docs directory, seen from cmd/gatehouse.
const docsDir = "../../docs"

// fence is one fenced code block of a Markdown page.
type fence struct {
	lang string
	line int // 1-based line of the opening fence
	body string
}

// fences returns the fenced code blocks of a Markdown text, in order.
func fences(md string) []fence {
	var out []fence
	var cur *fence
	var body []string
	for i, l := range strings.Split(md, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case cur == nil && strings.HasPrefix(t, "```"):
			cur = &fence{lang: strings.TrimSpace(strings.TrimPrefix(t, "```")), line: i + 1}
			body = nil
		case cur != nil && t == "```":
			cur.body = strings.Join(body, "\n") + "\n"
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, l)
		}
	}
	return out
}

// docPlaceholderEnv stands in for the environment of a deployment: every ${VAR} of an
// example expands to a non-empty value.
func docPlaceholderEnv(k string) string { return "placeholder-" + strings.ToLower(k) }

// runDocCmd runs a gatehouse command with the placeholder environment.
func runDocCmd(args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = run(context.Background(), args, docPlaceholderEnv, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// connectorPages returns the connector pages, by type name.
func connectorPages(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(docsDir, "connectors", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]string{}
	for _, p := range paths {
		pages[strings.TrimSuffix(filepath.Base(p), ".md")] = p
	}
	return pages
}

// TestDocsEveryConnectorTypeHasAPage proves that each type in the registry has
// docs/connectors/<type>.md, linked from README.md, and that no page describes a type the
// binary does not know (a renamed or removed connector).
func TestDocsEveryConnectorTypeHasAPage(t *testing.T) {
	readme := mustRead(t, "../../README.md")
	pages := connectorPages(t)
	reg := newRegistry(nil)
	for typ := range reg {
		if _, ok := pages[typ]; !ok {
			t.Errorf("connector type %q has no page docs/connectors/%s.md", typ, typ)
		}
		if !strings.Contains(readme, "(docs/connectors/"+typ+".md)") {
			t.Errorf("README.md does not link docs/connectors/%s.md", typ)
		}
	}
	for name := range pages {
		if _, ok := reg[name]; !ok {
			t.Errorf("docs/connectors/%s.md describes a connector type the registry does not have", name)
		}
	}
	if !strings.Contains(readme, "(docs/cel.md)") {
		t.Error("README.md does not link the CEL reference docs/cel.md")
	}
}

// docsWithExamples returns the pages whose YAML examples must pass check-config.
func docsWithExamples(t *testing.T) []string {
	t.Helper()
	out := slices.Sorted(maps.Values(connectorPages(t)))
	return append(out, filepath.Join(docsDir, "cel.md"), filepath.Join(docsDir, "logout.md"))
}

// checkYAMLExamples runs check-config over every yaml block of one page and reports the
// blocks it refuses. It returns how many blocks it checked.
func checkYAMLExamples(t *testing.T, page, md string) (checked int, failures []string) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range fences(md) {
		if f.lang != "yaml" {
			continue
		}
		checked++
		p := writeFile(t, dir, "example.yaml", f.body)
		if out, errs, err := runDocCmd("check-config", p); err != nil {
			failures = append(failures, page+":"+strconv.Itoa(f.line)+": check-config refuses this example: "+err.Error()+"\n"+out+errs)
		}
	}
	return checked, failures
}

// TestDocsYAMLExamplesPassCheckConfig proves that every YAML example in the connector pages,
// the CEL reference and the logout page is a complete configuration that check-config accepts: unknown keys
// (strict decoding, connector config included), invalid values, CEL that does not compile and
// claims_tests whose expected claims are wrong all fail it. Each page needs at least one.
func TestDocsYAMLExamplesPassCheckConfig(t *testing.T) {
	for _, page := range docsWithExamples(t) {
		t.Run(filepath.Base(page), func(t *testing.T) {
			n, failures := checkYAMLExamples(t, page, mustRead(t, page))
			if n == 0 {
				t.Errorf("%s has no yaml example", page)
			}
			for _, f := range failures {
				t.Error(f)
			}
		})
	}
}

// TestDocsCheckerRefusesBadExamples proves the example check above can fail: a misspelt
// connector key, a wrong claims_tests expectation and invalid CEL are each refused.
func TestDocsCheckerRefusesBadExamples(t *testing.T) {
	good := "issuer: https://login.example.com\n" +
		"storage: {type: sqlite, config: {file: gatehouse.db}}\n" +
		"connectors:\n" +
		"  - type: github\n    id: github\n" +
		"    config: {client_id: abc, client_secret: \"${GITHUB_CLIENT_SECRET}\"}\n" +
		"    claims: {map: {login: \"attrs.login[0]\"}}\n" +
		"scopes: [{name: github_login, claims: [login]}]\n" +
		"claims_tests:\n" +
		"  - {name: login, connector: github, input: {subject: \"1\", attrs: {login: [octocat]}}, expect: {claims: {login: octocat}}}\n"
	bad := map[string]string{
		"unknown key":       strings.Replace(good, "client_id:", "clientid:", 1),
		"wrong expectation": strings.Replace(good, "login: octocat}}", "login: hubot}}", 1),
		"invalid CEL":       strings.Replace(good, `attrs.login[0]`, `attrs.login[`, 1),
	}
	if n, failures := checkYAMLExamples(t, "good.md", "```yaml\n"+good+"```\n"); n != 1 || len(failures) != 0 {
		t.Fatalf("good example: checked %d, failures %q", n, failures)
	}
	for name, body := range bad {
		if _, failures := checkYAMLExamples(t, name, "```yaml\n"+body+"```\n"); len(failures) != 1 {
			t.Errorf("%s: the checker accepted\n%s", name, body)
		}
	}
}

// explainHeader is the first line claims explain prints.
var explainHeader = regexp.MustCompile(`^connector ([A-Za-z0-9_.-]+)(?:, client ([A-Za-z0-9_.-]+))?$`)

// TestDocsExplainExamplesMatch proves that the identity each connector page shows is what
// `gatehouse claims explain` prints today: on every connector page, each text block starting
// with "connector ID" is the output for the page's first yaml block as --config and the json
// block before it as --input (with --client when the header names one). Every connector page
// needs at least one such example. When a change to the claims pipeline or the explain
// output is intended, the failure prints the new output to paste into the page.
func TestDocsExplainExamplesMatch(t *testing.T) {
	pages := connectorPages(t)
	for _, typ := range slices.Sorted(maps.Keys(pages)) {
		page := pages[typ]
		t.Run(typ, func(t *testing.T) {
			dir := t.TempDir()
			var cfgPath, input string
			examples := 0
			for _, f := range fences(mustRead(t, page)) {
				switch {
				case f.lang == "yaml" && cfgPath == "":
					cfgPath = writeFile(t, dir, "gatehouse.yaml", f.body)
				case f.lang == "json":
					input = writeFile(t, dir, "upstream.json", f.body)
				case f.lang == "text" && explainHeader.MatchString(firstLine(f.body)):
					examples++
					if cfgPath == "" || input == "" {
						t.Fatalf("%s:%d: explain output without a yaml config and a json input before it", page, f.line)
					}
					m := explainHeader.FindStringSubmatch(firstLine(f.body))
					args := []string{"claims", "explain", "--config", cfgPath, "--connector", m[1], "--input", input}
					if m[2] != "" {
						args = append(args, "--client", m[2])
					}
					out, errs, err := runDocCmd(args...)
					if err != nil {
						t.Fatalf("%s:%d: claims explain: %v\n%s", page, f.line, err, errs)
					}
					if out != f.body {
						t.Errorf("%s:%d: the page shows\n%s\nbut claims explain prints\n%s", page, f.line, f.body, out)
					}
				}
			}
			if examples == 0 {
				t.Errorf("%s has no claims explain example (a ```text block starting with \"connector ID\")", page)
			}
		})
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
