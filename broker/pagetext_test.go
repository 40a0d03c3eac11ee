package broker_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
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
	checked := 0
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
	if checked < 40 {
		t.Fatalf("only %d page texts found: the scan is broken", checked)
	}
}
