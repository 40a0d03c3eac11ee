package broker_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogCallsCarryContext proves every log call of the broker's handlers passes the
// request's context (InfoContext, ...), so no line loses its request ID: a plain
// s.Logger.Info/Warn/Error/Debug call in a non-test file of the package fails it.
func TestLogCallsCarryContext(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			recv, ok := sel.X.(*ast.SelectorExpr)
			switch sel.Sel.Name {
			case "Info", "Warn", "Error", "Debug":
				if ok && recv.Sel.Name == "Logger" {
					t.Errorf("%s: Logger.%s without the request's context; use %sContext", fset.Position(call.Pos()), sel.Sel.Name, sel.Sel.Name)
				}
			}
			return true
		})
	}
}
