package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// DefaultLanguage is the language of the built-in catalog every other catalog translates: a
// message missing from a catalog is shown in it.
const DefaultLanguage = "en"

// Language is one language the pages can be shown in.
type Language struct {
	// Tag is the BCP 47 tag ("de", "ar").
	Tag string
	// Name is the language's name in itself ("Deutsch"), for the language switcher.
	Name string
	// Dir is the text direction: "rtl" or "ltr".
	Dir string
}

// rtlBases are the base languages written right to left.
var rtlBases = map[string]bool{"ar": true, "he": true, "fa": true, "ur": true, "yi": true, "ps": true, "dv": true, "ckb": true}

// catalogs is the loaded translations: the go-i18n bundle, the languages in order (the
// default first) and a reverse index from the default language's text to its message ID, so a
// text that flows code-side ("Wrong username or password") is translated like an ID.
type catalogs struct {
	bundle  *i18n.Bundle
	langs   []Language
	tags    []language.Tag
	matcher language.Matcher
	ids     map[string]bool
	byText  map[string]string
}

// loadCatalogs reads locales/*.json from each fsys in order (embedded, then a theme): a later
// file adds messages and languages or overrides a message of the same ID and language.
func loadCatalogs(fsyss ...fs.FS) (*catalogs, error) {
	c := &catalogs{bundle: i18n.NewBundle(language.English), ids: map[string]bool{}, byText: map[string]string{}}
	c.bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	seen := map[string]bool{}
	var tags []language.Tag
	for _, fsys := range fsyss {
		files, err := fs.Glob(fsys, "locales/*.json")
		if err != nil {
			return nil, fmt.Errorf("web: list catalogs: %w", err)
		}
		for _, f := range files {
			b, err := fs.ReadFile(fsys, f)
			if err != nil {
				return nil, fmt.Errorf("web: read %s: %w", f, err)
			}
			mf, err := c.bundle.ParseMessageFileBytes(b, path.Base(f))
			if err != nil {
				return nil, fmt.Errorf("web: catalog %s: %w", f, err)
			}
			if mf.Tag == language.Und {
				return nil, fmt.Errorf("web: catalog %s: the file name must be a language tag (de.json)", f)
			}
			tag := mf.Tag.String()
			if !seen[tag] {
				seen[tag] = true
				tags = append(tags, mf.Tag)
			}
			if tag == DefaultLanguage {
				for _, m := range mf.Messages {
					c.ids[m.ID] = true
					c.byText[m.Other] = m.ID
				}
			}
		}
	}
	if !seen[DefaultLanguage] {
		return nil, fmt.Errorf("web: no %s catalog", DefaultLanguage)
	}
	// The default language first: the matcher falls back to the first tag.
	slices.SortStableFunc(tags, func(a, b language.Tag) int {
		switch {
		case a.String() == DefaultLanguage:
			return -1
		case b.String() == DefaultLanguage:
			return 1
		}
		return strings.Compare(a.String(), b.String())
	})
	c.tags = tags
	c.matcher = language.NewMatcher(tags)
	for _, t := range tags {
		base, _ := t.Base()
		dir := "ltr"
		if rtlBases[base.String()] {
			dir = "rtl"
		}
		name := display.Self.Name(t)
		if name == "" {
			name = t.String()
		}
		c.langs = append(c.langs, Language{Tag: t.String(), Name: name, Dir: dir})
	}
	return c, nil
}

// match returns the supported language that best fits the preferences, each a BCP 47 tag
// or an Accept-Language header value, the first that names a supported language winning.
func (c *catalogs) match(prefs ...string) Language {
	for _, p := range prefs {
		if p == "" {
			continue
		}
		want, _, err := language.ParseAcceptLanguage(p)
		if err != nil || len(want) == 0 {
			continue
		}
		_, i, conf := c.matcher.Match(want...)
		if conf != language.No {
			return c.langs[i]
		}
	}
	return c.langs[0]
}

// lookup returns the language of the tag if it is supported exactly.
func (c *catalogs) lookup(tag string) (Language, bool) {
	for _, l := range c.langs {
		if l.Tag == tag {
			return l, true
		}
	}
	return Language{}, false
}

// translator returns the T function of the templates of one language: T "id" translates a
// message ID, T "English text" a text of the default catalog; anything else comes back as
// is. Further arguments are name, value pairs for the message's {{.Name}} fields, or one
// map[string]any of them; a "Count" also chooses the plural form.
func (c *catalogs) translator(lang string) func(any, ...any) (string, error) {
	loc := i18n.NewLocalizer(c.bundle, lang)
	fallback := i18n.NewLocalizer(c.bundle, DefaultLanguage)
	return func(key any, args ...any) (string, error) {
		id := ""
		var fields []any
		switch k := key.(type) {
		case nil:
		case *Message:
			if k == nil {
				return "", nil
			}
			id, fields = k.ID, k.args()
		case Message:
			id, fields = k.ID, k.args()
		default:
			id = fmt.Sprint(key)
		}
		if len(args) == 1 { // a map of the fields, or nil for none
			m, ok := args[0].(map[string]any)
			if !ok && args[0] != nil {
				return "", fmt.Errorf("web: T %q: a single argument must be a map of fields", key)
			}
			args = nil
			for k, v := range m {
				args = append(args, k, v)
			}
		}
		if len(args)%2 != 0 {
			return "", fmt.Errorf("web: T %q: arguments must be name, value pairs", id)
		}
		args = append(fields, args...)
		if !c.ids[id] {
			known, ok := c.byText[id]
			if !ok {
				return id, nil
			}
			id = known
		}
		data := map[string]any{}
		cfg := &i18n.LocalizeConfig{MessageID: id, TemplateData: data}
		for i := 0; i < len(args); i += 2 {
			k, ok := args[i].(string)
			if !ok {
				return "", fmt.Errorf("web: T %q: argument %d is not a name", id, i)
			}
			data[k] = args[i+1]
			if k == "Count" {
				cfg.PluralCount = args[i+1]
			}
		}
		s, err := loc.Localize(cfg)
		if err != nil { // not in this language's catalog: the default language's text
			return fallback.Localize(cfg)
		}
		return s, nil
	}
}

// Message is a catalog message with the values of its {{.Field}} placeholders: a text built
// in Go with a value inside (a connector's name) that a page still shows in its language.
// T translates it like its ID with its fields; it is plain data, so it can be kept in storage
// as JSON between the request that builds it and the page that shows it.
type Message struct {
	// ID is the message ID in the catalogs ("go.upstream_logout_unreachable").
	ID string `json:"id"`
	// Fields are the placeholder values by name ("Name": "Acme SSO").
	Fields map[string]string `json:"fields,omitempty"`
}

// Msg returns the message id with its fields given as name, value pairs (a name without a
// value is ignored).
func Msg(id string, nameValues ...string) *Message {
	m := &Message{ID: id}
	for i := 0; i+1 < len(nameValues); i += 2 {
		if m.Fields == nil {
			m.Fields = map[string]string{}
		}
		m.Fields[nameValues[i]] = nameValues[i+1]
	}
	return m
}

// args returns the fields as T's name, value pairs, in a stable order.
func (m Message) args() []any {
	names := make([]string, 0, len(m.Fields))
	for k := range m.Fields {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]any, 0, 2*len(names))
	for _, k := range names {
		out = append(out, k, m.Fields[k])
	}
	return out
}

// localize returns one clone of t per language, each with its T, lang and dir functions.
func (c *catalogs) localize(t *template.Template) (map[string]*template.Template, error) {
	out := make(map[string]*template.Template, len(c.langs))
	for _, l := range c.langs {
		ct, err := t.Clone()
		if err != nil {
			return nil, fmt.Errorf("web: templates for %s: %w", l.Tag, err)
		}
		l := l
		ct.Funcs(template.FuncMap{
			"T":    c.translator(l.Tag),
			"lang": func() string { return l.Tag },
			"dir":  func() string { return l.Dir },
		})
		out[l.Tag] = ct
	}
	return out, nil
}

// placeholderFuncs are the localized functions a template may call, bound per language by
// catalogs.localize after parsing.
var placeholderFuncs = template.FuncMap{
	"T":    func(key any, _ ...any) (string, error) { return fmt.Sprint(key), nil },
	"lang": func() string { return DefaultLanguage },
	"dir":  func() string { return "ltr" },
}

// MessageIDs returns the message IDs of the default catalog, sorted.
func (t *Templates) MessageIDs() []string {
	c := t.cur.Load().cat
	ids := make([]string, 0, len(c.ids))
	for id := range c.ids {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Languages returns the languages the pages can be shown in, the default first.
func (t *Templates) Languages() []Language { return slices.Clone(t.cur.Load().cat.langs) }

// Match returns the supported language that best fits the preferences (tags or
// Accept-Language values, in order of precedence); the default language when none fits.
func (t *Templates) Match(prefs ...string) Language { return t.cur.Load().cat.match(prefs...) }

// Lookup returns the language of an exact supported tag (a language switcher's choice).
func (t *Templates) Lookup(tag string) (Language, bool) { return t.cur.Load().cat.lookup(tag) }

// TranslateMessage translates m with its fields into lang (the English text when lang's
// catalog lacks it; the ID when no catalog has it).
func (t *Templates) TranslateMessage(lang string, m Message) string {
	s, err := t.cur.Load().cat.translator(lang)(m)
	if err != nil {
		return m.ID
	}
	return s
}

// Translate translates a message ID or a text of the default catalog into lang (a text the
// catalog does not know comes back unchanged).
func (t *Templates) Translate(lang, idOrText string) string {
	s, err := t.cur.Load().cat.translator(lang)(idOrText)
	if err != nil {
		return idOrText
	}
	return s
}
