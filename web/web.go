// Package web holds Gatehouse's user-facing pages: embedded html/template templates and static
// assets (overridable from a directory), loaded and checked once at startup.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"sync/atomic"
)

//go:embed templates/*.html static/* locales/*.json
var embedded embed.FS

// required lists every template the broker renders; Load fails if one is missing, so a page
// that could not render fails the start, not a user's request.
var required = []string{
	"login.html", "connectors.html", "consent.html", "error.html", "logout.html", "loggedout.html", "form_post.html",
	"mfa_verify.html", "mfa_enrol.html", "mfa_codes.html", "account.html", "saml_denied.html",
	"device.html", "device_done.html", "logout_done.html", "identifier.html", "passkey_login.html",
	"account_apps.html", "account_sessions.html", "account_password.html", "account_logins.html", "account_passkeys.html",
	"account_factors.html",
}

// Templates renders pages. Reload replaces the theme's templates and assets while requests
// are served: each request sees one whole set, old or new.
type Templates struct {
	dir string
	cur atomic.Pointer[templateSet]
}

// templateSet is one parsed load of the templates and assets.
type templateSet struct {
	t *template.Template
	// byLang is t localized into each language of cat.
	byLang map[string]*template.Template
	cat    *catalogs
	static fs.FS
	// theme maps each file of the theme directory (templates/*.html, static/...) to its
	// SHA-256, so Reload can say what changed.
	theme map[string][sha256.Size]byte
}

// Load parses the embedded templates and, when dir is not "", a theme over them: each
// dir/templates/*.html replaces the embedded template of its name (base.html replaces the
// shared "head" and "foot"), and each file under dir/static/ replaces the embedded asset of
// its path, and each dir/locales/<tag>.json (a go-i18n catalog) adds messages or a language
// or overrides messages of the embedded catalog of its language; everything the theme does
// not provide stays embedded. Every required template
// must parse and exist, or Load fails naming it.
func Load(dir string) (*Templates, error) {
	set, err := load(dir)
	if err != nil {
		return nil, err
	}
	t := &Templates{dir: dir}
	t.cur.Store(set)
	return t, nil
}

// Reload loads the templates and the theme again (a theme edited in place, a ConfigMap
// updated) and, when every required template parses, swaps them in; otherwise the current
// ones stay and the error says why. It returns the theme files added, changed or removed.
func (t *Templates) Reload() (changed []string, err error) {
	set, err := load(t.dir)
	if err != nil {
		return nil, err
	}
	old := t.cur.Swap(set)
	for name, sum := range set.theme {
		if prev, ok := old.theme[name]; !ok || prev != sum {
			changed = append(changed, name)
		}
	}
	for name := range old.theme {
		if _, ok := set.theme[name]; !ok {
			changed = append(changed, name+" (removed)")
		}
	}
	slices.Sort(changed)
	return changed, nil
}

// load parses the embedded templates and the theme in dir (see Load).
func load(dir string) (*templateSet, error) {
	t, err := parseDir(template.New("").Funcs(placeholderFuncs), embedded)
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(embedded, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static: %w", err)
	}
	sums := map[string][sha256.Size]byte{}
	catalogFS := []fs.FS{embedded}
	if dir != "" {
		catalogFS = append(catalogFS, os.DirFS(dir))
		if sums, err = themeSums(os.DirFS(dir)); err != nil {
			return nil, fmt.Errorf("%w (theme %s)", err, dir)
		}
		theme := os.DirFS(dir)
		if t, err = parseDir(t, theme); err != nil {
			return nil, fmt.Errorf("%w (theme %s)", err, dir)
		}
		themeStatic, err := fs.Sub(theme, "static")
		if err != nil {
			return nil, fmt.Errorf("web: theme static: %w", err)
		}
		static = overlay{top: themeStatic, base: static}
	}
	for _, name := range required {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("web: template %s is missing", name)
		}
	}
	cat, err := loadCatalogs(catalogFS...)
	if err != nil {
		return nil, err
	}
	byLang, err := cat.localize(t)
	if err != nil {
		return nil, err
	}
	return &templateSet{t: t, byLang: byLang, cat: cat, static: static, theme: sums}, nil
}

// themeSums hashes the theme's templates and static files.
func themeSums(fsys fs.FS) (map[string][sha256.Size]byte, error) {
	sums := map[string][sha256.Size]byte{}
	for _, root := range []string{"templates", "static", "locales"} {
		err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return fs.SkipDir
			}
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			sums[p] = sha256.Sum256(b)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("web: read theme: %w", err)
		}
	}
	return sums, nil
}

// parseDir parses fsys's templates/*.html into t, one file at a time so an error names its
// file; a file replaces a template of the same name (and the templates it defines).
func parseDir(t *template.Template, fsys fs.FS) (*template.Template, error) {
	files, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list templates: %w", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("web: read %s: %w", f, err)
		}
		if _, err := t.New(path.Base(f)).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", path.Base(f), err)
		}
	}
	return t, nil
}

// overlay serves a file from top when it has it, from base otherwise.
type overlay struct{ top, base fs.FS }

// Open opens name in top, falling back to base when top does not have it.
func (o overlay) Open(name string) (fs.File, error) {
	f, err := o.top.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return o.base.Open(name)
	}
	return f, err
}

// Render executes a template in the default language into a buffer and writes it with the
// status, so a template error never leaves a half-written page.
func (t *Templates) Render(w http.ResponseWriter, status int, name string, data any) error {
	return t.RenderLang(w, status, DefaultLanguage, name, data)
}

// RenderLang is Render in the language lang (a Language.Tag; the default language when it is
// not supported).
func (t *Templates) RenderLang(w http.ResponseWriter, status int, lang, name string, data any) error {
	set := t.cur.Load()
	tm, ok := set.byLang[lang]
	if !ok {
		lang, tm = DefaultLanguage, set.byLang[DefaultLanguage]
	}
	var buf bytes.Buffer
	if err := tm.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "internal error rendering page", http.StatusInternalServerError)
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", lang)
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// Static serves the static assets (CSS, images) of the current set.
func (t *Templates) Static() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.FileServerFS(t.cur.Load().static).ServeHTTP(w, r)
	})
}
