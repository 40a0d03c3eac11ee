package broker_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogCallsCarryContext proves every log call of the broker's handlers, in this package
// and every package below it, passes the request's context (InfoContext, ...), so no line
// loses its request ID: a plain x.Logger.Info/Warn/Error/Debug (or logger.Info ...) call in a
// non-test file fails it.
func TestLogCallsCarryContext(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d files under broker/; the walk is broken", len(files))
	}
	fset := token.NewFileSet()
	for _, name := range files {
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
			switch sel.Sel.Name {
			case "Info", "Warn", "Error", "Debug":
				if isLogger(sel.X) {
					t.Errorf("%s: Logger.%s without the request's context; use %sContext", fset.Position(call.Pos()), sel.Sel.Name, sel.Sel.Name)
				}
			}
			return true
		})
	}
}

// isLogger reports whether the expression names a logger: x.Logger, x.logger, Logger or logger.
func isLogger(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.SelectorExpr:
		return strings.EqualFold(x.Sel.Name, "logger")
	case *ast.Ident:
		return strings.EqualFold(x.Name, "logger")
	}
	return false
}
