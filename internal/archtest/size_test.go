package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Size limits of the broker's non-test code (issue 14): a file a reader can hold in mind, a
// function that fits on a screen. Big files and long functions are where the broker's flows
// used to tangle; the limits keep the split honest.
const (
	maxFileLines = 500
	maxFuncLines = 80
)

// TestBrokerSizes enforces the limits on every non-test Go file under broker/.
func TestBrokerSizes(t *testing.T) {
	dir, _ := moduleRoot(t)
	root := filepath.Join(dir, "broker")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		for _, p := range sizeProblems(t, fset, dir, path) {
			t.Error(p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sizeProblems lists the file's violations of the limits.
func sizeProblems(t *testing.T, fset *token.FileSet, root, path string) []string {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(root, path) //nolint:errcheck // only for messages
	var out []string
	if n := strings.Count(string(src), "\n"); n > maxFileLines {
		out = append(out, rel+": "+itoa(n)+" lines; split it (at most "+itoa(maxFileLines)+" outside tests)")
	}
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
		if n > maxFuncLines {
			out = append(out, rel+": func "+fn.Name.Name+" has "+itoa(n)+" lines (at most "+itoa(maxFuncLines)+")")
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
