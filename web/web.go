// Package web holds Gatehouse's user-facing pages: embedded html/template templates and static
// assets (overridable from a directory), loaded and checked once at startup.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
)

//go:embed templates/*.html static/*
var embedded embed.FS

// Required lists every template the broker renders; Load fails if one is missing.
var required = []string{"login.html", "connectors.html", "consent.html", "error.html", "logout.html", "loggedout.html", "form_post.html"}

// Templates renders pages.
type Templates struct {
	t      *template.Template
	static fs.FS
}

// Load parses the templates from dir, or the embedded ones when dir is "".
func Load(dir string) (*Templates, error) {
	var fsys fs.FS = embedded
	if dir != "" {
		fsys = os.DirFS(dir)
	}
	t, err := template.New("").Funcs(template.FuncMap{}).ParseFS(fsys, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse templates: %w", err)
	}
	for _, name := range required {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("web: template %s is missing", name)
		}
	}
	static, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static: %w", err)
	}
	return &Templates{t: t, static: static}, nil
}

// Render executes a template into a buffer and writes it with the status, so a template error
// never leaves a half-written page.
func (t *Templates) Render(w http.ResponseWriter, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := t.t.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "internal error rendering page", http.StatusInternalServerError)
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// Static serves the static assets (CSS, images).
func (t *Templates) Static() http.Handler { return http.FileServerFS(t.static) }
