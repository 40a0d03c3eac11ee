package web

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReloadSwapsTheme: Reload picks up an edited, an added and a removed theme file and
// says which; a theme that no longer parses keeps the current templates.
func TestReloadSwapsTheme(t *testing.T) {
	dir := writeTheme(t, map[string]string{
		"templates/error.html": `{{define "error.html"}}OLD ERROR{{end}}`,
		"static/old.css":       "body{}",
	})
	tm, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := render(t, tm, "error.html", nil); !strings.Contains(got, "OLD ERROR") {
		t.Fatalf("before reload: %q", got)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("templates/error.html", `{{define "error.html"}}NEW ERROR{{end}}`)
	write("static/new.css", "p{}")
	if err := os.Remove(filepath.Join(dir, "static/old.css")); err != nil {
		t.Fatal(err)
	}
	changed, err := tm.Reload()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"static/new.css", "static/old.css (removed)", "templates/error.html"}
	if !slices.Equal(changed, want) {
		t.Errorf("changed = %q, want %q", changed, want)
	}
	if got := render(t, tm, "error.html", nil); !strings.Contains(got, "NEW ERROR") {
		t.Errorf("after reload: %q", got)
	}
	rec := httptest.NewRecorder()
	tm.Static().ServeHTTP(rec, httptest.NewRequest("GET", "/new.css", nil))
	if rec.Code != 200 || rec.Body.String() != "p{}" {
		t.Errorf("new static asset: %d %q", rec.Code, rec.Body)
	}

	write("templates/error.html", `{{define "error.html"}}{{.Broken`)
	if _, err := tm.Reload(); err == nil || !strings.Contains(err.Error(), "error.html") {
		t.Errorf("broken theme: err = %v", err)
	}
	if got := render(t, tm, "error.html", nil); !strings.Contains(got, "NEW ERROR") {
		t.Errorf("a failed reload replaced the templates: %q", got)
	}
	if changed, err := (&Templates{}).reloadEmbedded(); err != nil || len(changed) != 0 {
		t.Errorf("embedded reload: %q, %v", changed, err)
	}
}

// reloadEmbedded reloads a Templates with no theme (nothing can change).
func (t *Templates) reloadEmbedded() ([]string, error) {
	fresh, err := Load("")
	if err != nil {
		return nil, err
	}
	t.cur.Store(fresh.cur.Load())
	return t.Reload()
}
