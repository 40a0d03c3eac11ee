package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeTheme writes files (path relative to the theme dir -> content) into a new theme dir.
func writeTheme(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// render renders a template with data and returns the body.
func render(t *testing.T, tm *Templates, name string, data any) string {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := tm.Render(rec, http.StatusOK, name, data); err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	return rec.Body.String()
}

// TestEveryTemplateRequired: every embedded page is in the required list, so each is loaded
// and checked at start (base.html only defines the shared head and foot).
func TestEveryTemplateRequired(t *testing.T) {
	files, err := fs.Glob(embedded, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name != "base.html" && !slices.Contains(required, name) {
			t.Errorf("%s is not in web.required: a broken theme copy of it would fail at a user's request, not at start", name)
		}
	}
	if _, err := Load(""); err != nil {
		t.Fatal(err)
	}
}

// TestThemeOverridesOneTemplate: a theme with one template replaces that one; every other
// page (and the static assets) stays embedded.
func TestThemeOverridesOneTemplate(t *testing.T) {
	dir := writeTheme(t, map[string]string{
		"templates/saml_denied.html": `themed denied page for {{.SPName}}`,
		"static/style.css":           `body { color: hotpink }`,
	})
	tm, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := render(t, tm, "saml_denied.html", map[string]any{"SPName": "Wiki"}); got != "themed denied page for Wiki" {
		t.Errorf("saml_denied.html = %q, want the theme's", got)
	}
	if got := render(t, tm, "error.html", map[string]any{"Title": "Oops", "Heading": "Oops", "Message": "m"}); !strings.Contains(got, `<main class="card">`) {
		t.Errorf("error.html is not the embedded page:\n%s", got)
	}
	for path, want := range map[string]string{"/style.css": "hotpink", "/webauthn.js": "navigator"} {
		rec := httptest.NewRecorder()
		tm.Static().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("static %s: %d, want %q in it", path, rec.Code, want)
		}
	}
}

// TestThemeBaseAppliesToAllPages: a theme's base.html (head and foot) reaches every page.
func TestThemeBaseAppliesToAllPages(t *testing.T) {
	dir := writeTheme(t, map[string]string{
		"templates/base.html": `{{define "head"}}<header>ACME</header>{{end}}{{define "foot"}}<footer>ACME</footer>{{end}}`,
	})
	tm, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := render(t, tm, "error.html", map[string]any{"Heading": "Oops"})
	if !strings.HasPrefix(got, "<header>ACME</header>") || !strings.HasSuffix(strings.TrimSpace(got), "<footer>ACME</footer>") {
		t.Errorf("error.html does not use the theme's base:\n%s", got)
	}
}

// TestFullThemeLoads: a theme that provides every template (a copy of the embedded ones)
// loads and is used.
func TestFullThemeLoads(t *testing.T) {
	files, err := fs.Glob(embedded, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	theme := map[string]string{}
	for _, f := range files {
		b, err := fs.ReadFile(embedded, f)
		if err != nil {
			t.Fatal(err)
		}
		theme[f] = string(b)
	}
	theme["templates/loggedout.html"] = `full theme`
	tm, err := Load(writeTheme(t, theme))
	if err != nil {
		t.Fatal(err)
	}
	if got := render(t, tm, "loggedout.html", nil); got != "full theme" {
		t.Errorf("loggedout.html = %q", got)
	}
}

// TestThemeTemplateThatDoesNotParse: Load fails at start, naming the broken template.
func TestThemeTemplateThatDoesNotParse(t *testing.T) {
	dir := writeTheme(t, map[string]string{"templates/mfa_verify.html": `{{if .TOTP}}never closed`})
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "mfa_verify.html") {
		t.Fatalf("Load = %v, want an error naming mfa_verify.html", err)
	}
}
