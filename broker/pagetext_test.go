package broker_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/web"
)

// userTextCalls are the calls whose string-literal arguments a user reads on a page, by the
// method name and the index of the first such argument.
var userTextCalls = map[string]int{"Error": 3, "ErrorArgs": 3, "done": 3, "loginPage": 8, "identifierPage": 7, "passwordStep": 8, "renderMFA": 7, "renderEntry": 5}

// TestPageTextsInCatalog: every string literal the broker passes to an error page (and to the
// login, MFA and device pages' messages) is a message ID or an English text of the catalogs,
// so each language translates it. Texts built at run time (a prefix plus a detail) are not
// literals and stay out of this check.
func TestPageTextsInCatalog(t *testing.T) {
	tm, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	checked, msgs := 0, 0
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			strings.Contains(path, "brokertest") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var name string
			switch fn := call.Fun.(type) {
			case *ast.SelectorExpr:
				name = fn.Sel.Name
			case *ast.Ident:
				name = fn.Name
			}
			if name == "Msg" {
				msgs++
				checkMsg(t, tm, path, call)
				return true
			}
			from, ok := userTextCalls[name]
			if !ok || len(call.Args) <= from {
				return true
			}
			for _, a := range call.Args[from:] {
				lit, ok := a.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil || s == "" {
					continue
				}
				checked++
				if tm.Translate("de", s) == s && tm.Translate("ja", s) == s {
					t.Errorf("%s: %s(... %q ...) is in no catalog: add it to web/locales", path, name, s)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 40 || msgs < 2 {
		t.Fatalf("only %d page texts and %d web.Msg calls found: the scan is broken", checked, msgs)
	}
}

// checkMsg checks a web.Msg(id, name, value, ...) call, a page text built in Go with values
// inside: id is a literal message ID of the catalogs, and in every language the translation
// carries each value given (a placeholder of that name) and is not the English text.
func checkMsg(t *testing.T, tm *web.Templates, path string, call *ast.CallExpr) {
	t.Helper()
	lits := make([]string, len(call.Args))
	for i, a := range call.Args {
		if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			lits[i], _ = strconv.Unquote(lit.Value)
		}
	}
	if len(lits) == 0 || lits[0] == "" || !slices.Contains(tm.MessageIDs(), lits[0]) {
		t.Errorf("%s: web.Msg(%v): the ID must be a literal message ID of the catalogs", path, lits)
		return
	}
	m := web.Message{ID: lits[0], Fields: map[string]string{}}
	for i := 1; i+1 < len(lits); i += 2 {
		if lits[i] == "" {
			t.Errorf("%s: web.Msg(%q): field %d is not a literal name", path, m.ID, i)
			return
		}
		m.Fields[lits[i]] = "\x00" + lits[i] + "\x00"
	}
	en := tm.TranslateMessage("en", m)
	for _, l := range tm.Languages() {
		s := tm.TranslateMessage(l.Tag, m)
		for name, v := range m.Fields {
			if !strings.Contains(s, v) {
				t.Errorf("%s: web.Msg(%q): the %s text has no {{.%s}}: %q", path, m.ID, l.Tag, name, s)
			}
		}
		if l.Tag != "en" && s == en {
			t.Errorf("%s: web.Msg(%q): %s shows the English text", path, m.ID, l.Tag)
		}
	}
}
