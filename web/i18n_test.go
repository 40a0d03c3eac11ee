package web

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template/parse"
)

// wantLanguages are the languages every page ships in.
var wantLanguages = []string{"ar", "de", "en", "es", "fr", "ja"}

// catalog reads an embedded catalog as ID -> message (a string, or plural forms).
func catalog(t *testing.T, fsys fs.FS, name string) map[string]any {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// TestEveryMessageInEveryCatalog: each shipped language has exactly the default catalog's
// message IDs (none missing, none stale), with the same {{.Field}} placeholders, and every
// ID a template names exists.
func TestEveryMessageInEveryCatalog(t *testing.T) {
	en := catalog(t, embedded, "locales/en.json")
	files, _ := fs.Glob(embedded, "locales/*.json")
	var got []string
	for _, f := range files {
		got = append(got, strings.TrimSuffix(path.Base(f), ".json"))
	}
	if !slices.Equal(got, wantLanguages) {
		t.Fatalf("catalogs %v, want %v", got, wantLanguages)
	}
	field := regexp.MustCompile(`{{\s*\.(\w+)\s*}}`)
	fields := func(v any) []string {
		var out []string
		for _, m := range field.FindAllStringSubmatch(strings.TrimSpace(strings.ReplaceAll(jsonText(v), "\n", " ")), -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	for _, lang := range wantLanguages {
		t.Run(lang, func(t *testing.T) {
			c := catalog(t, embedded, "locales/"+lang+".json")
			for id, msg := range en {
				tr, ok := c[id]
				if !ok {
					t.Errorf("%s: message %q missing", lang, id)
					continue
				}
				if !slices.Equal(fields(msg), fields(tr)) {
					t.Errorf("%s: %q has fields %v, English has %v", lang, id, fields(tr), fields(msg))
				}
			}
			for id := range c {
				if _, ok := en[id]; !ok {
					t.Errorf("%s: message %q is not in the English catalog", lang, id)
				}
			}
		})
	}
	tm, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range templateIDs(t) {
		if _, ok := en[id]; !ok {
			t.Errorf("a template uses message %q, which no catalog has", id)
		}
	}
	if len(tm.MessageIDs()) != len(en) {
		t.Errorf("loaded %d IDs, the catalog has %d", len(tm.MessageIDs()), len(en))
	}
}

// jsonText flattens a message (a string or plural forms) into one string.
func jsonText(v any) string {
	switch m := v.(type) {
	case string:
		return m
	case map[string]any:
		var parts []string
		for _, k := range []string{"zero", "one", "two", "few", "many", "other"} {
			if s, ok := m[k].(string); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// templateIDs returns the constant message IDs the embedded templates pass to T.
func templateIDs(t *testing.T) []string {
	var ids []string
	eachTree(t, func(name string, n parse.Node) {
		if c, ok := n.(*parse.CommandNode); ok && len(c.Args) > 1 {
			if id, ok := c.Args[0].(*parse.IdentifierNode); ok && id.Ident == "T" {
				if s, ok := c.Args[1].(*parse.StringNode); ok {
					ids = append(ids, s.Text)
				}
			}
		}
	})
	return ids
}

// eachTree parses every embedded template and calls f on every node.
func eachTree(t *testing.T, f func(file string, n parse.Node)) {
	t.Helper()
	files, _ := fs.Glob(embedded, "templates/*.html")
	for _, file := range files {
		b, _ := fs.ReadFile(embedded, file)
		tr := parse.New(file)
		tr.Mode = parse.SkipFuncCheck
		trees := map[string]*parse.Tree{}
		if _, err := tr.Parse(string(b), "{{", "}}", trees); err != nil {
			t.Fatal(err)
		}
		for _, tree := range trees {
			walk(tree.Root, func(n parse.Node) { f(file, n) })
		}
	}
}

// walk visits n and every node under it.
func walk(n parse.Node, f func(parse.Node)) {
	if n == nil {
		return
	}
	f(n)
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			walk(c, f)
		}
	case *parse.ActionNode:
		walk(x.Pipe, f)
	case *parse.PipeNode:
		if x == nil {
			return
		}
		for _, c := range x.Cmds {
			walk(c, f)
		}
	case *parse.CommandNode:
		for _, a := range x.Args {
			walk(a, f)
		}
	case *parse.IfNode:
		walk(x.Pipe, f)
		walk(x.List, f)
		walk(x.ElseList, f)
	case *parse.RangeNode:
		walk(x.Pipe, f)
		walk(x.List, f)
		walk(x.ElseList, f)
	case *parse.WithNode:
		walk(x.Pipe, f)
		walk(x.List, f)
		walk(x.ElseList, f)
	case *parse.TemplateNode:
		walk(x.Pipe, f)
	}
}

var (
	tagRE       = regexp.MustCompile(`(?s)<script.*?</script>|<[^>]*>`)
	attrRE      = regexp.MustCompile(`\b(aria-label|placeholder|alt|title)="([^"]*)"`)
	actionRE    = regexp.MustCompile(`(?s){{.*?}}`)
	letterRE    = regexp.MustCompile(`\p{L}`)
	entityRE    = regexp.MustCompile(`&\w+;`)
	allowedText = []string{"Gatehouse"}
)

// rawText reports the human-readable text left in s, a template's text node: what is
// outside tags, and the user-visible attributes inside them.
func rawText(s string) []string {
	var out []string
	for _, m := range attrRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[2])
	}
	out = append(out, tagRE.ReplaceAllString(s, " "))
	var words []string
	for _, t := range out {
		t = entityRE.ReplaceAllString(t, " ")
		for _, a := range allowedText {
			t = strings.ReplaceAll(t, a, "")
		}
		if letterRE.MatchString(t) {
			words = append(words, strings.TrimSpace(t))
		}
	}
	return words
}

// TestNoRawTextInTemplates: every word a user reads goes through the catalog: the text of
// each template (its text nodes, actions blanked out) has no letters outside tags nor in a
// visible attribute (aria-label, placeholder, alt, title).
func TestNoRawTextInTemplates(t *testing.T) {
	files, _ := fs.Glob(embedded, "templates/*.html")
	if len(files) < len(required) {
		t.Fatalf("only %d templates", len(files))
	}
	for _, file := range files {
		b, _ := fs.ReadFile(embedded, file)
		for _, w := range rawText(actionRE.ReplaceAllString(string(b), "\x00")) {
			t.Errorf("%s: raw text %q: put it in web/locales and use {{T \"id\"}}", file, w)
		}
	}
	// The scanner itself catches what it must.
	for _, tc := range []struct {
		text string
		raw  bool
	}{
		{`<h1>Sign in</h1>`, true},
		{`<input placeholder="Phone">`, true},
		{`<img alt="QR code">`, true},
		{`<button type="submit" name="decision" value="allow">`, false},
		{`<a href="x">Use another way</a>`, true},
		{`<script nonce="n">document.getElementById("f").submit();</script>`, false},
		{`<input type="hidden" name="req" value="x">`, false},
		{`</p>` + "\n" + `<p class="small">`, false},
		{` · `, false},
		{`<title>`, false},
		{` · Gatehouse</title>`, false},
	} {
		if got := len(rawText(tc.text)) > 0; got != tc.raw {
			t.Errorf("rawText(%q) found text: %v, want %v", tc.text, got, tc.raw)
		}
	}
}

// TestRenderInEachLanguage: a page renders in each language with its lang and dir, the
// texts translated and code-side English texts translated through the reverse index.
func TestRenderInEachLanguage(t *testing.T) {
	tm, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	type page struct {
		Title, Base, ClientName, ConnectorName, Error, Prompt, Action, ReqID, CSRF, Username, Back string
		Passkey                                                                                    *struct{ Action, CSRF, Options, Script string }
		Languages                                                                                  []struct {
			Tag, Name, URL string
			Current        bool
		}
	}
	d := page{Title: "Sign in", ClientName: "Example <App>", ConnectorName: "LDAP", Prompt: "Username",
		Error: "The username or password is wrong. Check them and try again."}
	for _, tc := range []struct{ lang, dir, heading, prompt, wrong string }{
		{"en", "ltr", "Sign in", "Username", "The username or password is wrong"},
		{"de", "ltr", "Anmelden", "Benutzername", "Benutzername oder Passwort ist falsch"},
		{"fr", "ltr", "Se connecter", "Nom d’utilisateur", "Le nom d’utilisateur ou le mot de passe est incorrect"},
		{"es", "ltr", "Iniciar sesión", "Nombre de usuario", "El nombre de usuario o la contraseña no son correctos"},
		{"ja", "ltr", "サインイン", "ユーザー名", "ユーザー名またはパスワードが正しくありません"},
		{"ar", "rtl", "تسجيل الدخول", "اسم المستخدم", "اسم المستخدم أو كلمة المرور غير صحيحة"},
		{"xx", "ltr", "Sign in", "Username", "The username or password is wrong"}, // unsupported: English
	} {
		rec := httptest.NewRecorder()
		if err := tm.RenderLang(rec, http.StatusOK, tc.lang, "login.html", d); err != nil {
			t.Fatalf("%s: %v", tc.lang, err)
		}
		body := strings.ReplaceAll(rec.Body.String(), "&rsquo;", "’")
		body = strings.ReplaceAll(body, "&#39;", "'")
		wantLang := tc.lang
		if wantLang == "xx" {
			wantLang = "en"
		}
		for _, want := range []string{`<html lang="` + wantLang + `" dir="` + tc.dir + `">`, "<h1>" + tc.heading + "</h1>", tc.prompt, tc.wrong, "Example &lt;App&gt;"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: page lacks %q:\n%s", tc.lang, want, body)
			}
		}
		if got := rec.Header().Get("Content-Language"); got != wantLang {
			t.Errorf("%s: Content-Language %q", tc.lang, got)
		}
	}
}

// TestMatch: ui_locales-style tags and Accept-Language values choose the closest supported
// language, the first preference that matches winning.
func TestMatch(t *testing.T) {
	tm, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prefs []string
		want  string
	}{
		{nil, "en"},
		{[]string{""}, "en"},
		{[]string{"de-AT"}, "de"},
		{[]string{"fr-CA,fr;q=0.9,en;q=0.5"}, "fr"},
		{[]string{"sv", "es-MX"}, "es"},
		{[]string{"ja-JP"}, "ja"},
		{[]string{"ar-EG"}, "ar"},
		{[]string{"zz", "de"}, "de"},
		{[]string{"*"}, "en"},
		{[]string{"not a tag;;;", "fr"}, "fr"},
		{[]string{"en-GB", "de"}, "en"},
	} {
		if got := tm.Match(tc.prefs...).Tag; got != tc.want {
			t.Errorf("Match(%q) = %s, want %s", tc.prefs, got, tc.want)
		}
	}
	ar, _ := tm.Lookup("ar")
	if ar.Dir != "rtl" || ar.Name != "العربية" {
		t.Errorf("ar = %+v", ar)
	}
	if _, ok := tm.Lookup("de-AT"); ok {
		t.Error("Lookup takes only exact tags")
	}
}

// TestThemeCatalog: a theme's locales/<tag>.json overrides a message and adds a language
// (falling back to English for what it does not translate); a broken catalog fails the load.
func TestThemeCatalog(t *testing.T) {
	dir := writeTheme(t, map[string]string{
		"locales/de.json": `{"signin.heading": "Willkommen"}`,
		"locales/it.json": `{"signin.heading": "Accedi"}`,
	})
	tm, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := tm.Translate("de", "signin.heading"); got != "Willkommen" {
		t.Errorf("de override: %q", got)
	}
	if got := tm.Translate("de", "login.password"); got != "Passwort" {
		t.Errorf("de kept: %q", got)
	}
	if got := tm.Translate("it", "signin.heading"); got != "Accedi" {
		t.Errorf("it added: %q", got)
	}
	if got := tm.Translate("it", "login.password"); got != "Password" {
		t.Errorf("it falls back to English: %q", got)
	}
	if l, ok := tm.Lookup("it"); !ok || l.Name != "italiano" {
		t.Errorf("it: %+v %v", l, ok)
	}
	for name, bad := range map[string]string{"locales/de.json": `{"signin.heading": `, "locales/notalang.json": `{}`} {
		if _, err := Load(writeTheme(t, map[string]string{name: bad})); err == nil {
			t.Errorf("%s %q: loaded", name, bad)
		}
	}
}

// TestMessageTranslation: T takes a Message (a text built in Go with values) like its ID with
// its fields, in each language; a nil *Message is nothing, and an unknown ID comes back as is.
func TestMessageTranslation(t *testing.T) {
	c, err := loadCatalogs(embedded)
	if err != nil {
		t.Fatal(err)
	}
	m := Msg("go.upstream_logout_none", "Name", "Acme <SSO>")
	tests := []struct {
		lang string
		key  any
		want string
	}{
		{"en", m, "Acme <SSO> offers no way to end your session there from here: it may still be open. Sign out there yourself if this is a shared computer."},
		{"de", *m, "Acme <SSO> bietet keine Möglichkeit, Ihre Sitzung dort von hier aus zu beenden: Sie ist möglicherweise noch offen. Melden Sie sich dort selbst ab, wenn dies ein gemeinsam genutzter Computer ist."},
		{"ar", m, "لا يتيح Acme <SSO> أي طريقة لإنهاء جلستك هناك من هنا: قد تكون لا تزال مفتوحة. سجّل الخروج هناك بنفسك إن كان هذا حاسوبًا مشتركًا."},
		{"ja", Msg("chooser.with", "Name", "Okta"), "Okta でサインイン"},
		{"de", Msg("consent.your_claims", "Claims", "department, badge"), "Ihre Angaben: department, badge"},
		{"fr", Msg("consent.your_claim", "Claim", "employee id"), "Votre information : employee id"},
		{"de", (*Message)(nil), ""},
		{"de", Msg("no.such.id", "Name", "x"), "no.such.id"},
	}
	for _, tt := range tests {
		got, err := c.translator(tt.lang)(tt.key)
		if err != nil || got != tt.want {
			t.Errorf("T %s %v = %q, %v; want %q", tt.lang, tt.key, got, err, tt.want)
		}
	}
}
