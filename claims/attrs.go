package claims

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// attrsVar is the upstream environment's map of raw attributes.
const attrsVar = "attrs"

// attrsRead lists the attribute names an expression reads with a constant key: attrs.x,
// attrs["x"], attrs.?x, attrs[?"x"], has(attrs.x) and "x" in attrs. A key computed at run
// time (attrs[name]) cannot be known and is not listed.
func attrsRead(ast *cel.Ast) []string {
	found := map[string]bool{}
	celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if name, ok := attrKey(e); ok {
			found[name] = true
		}
	}))
	return slices.Sorted(maps.Keys(found))
}

// attrKey returns the attribute a node reads from attrs with a constant key.
func attrKey(e celast.Expr) (string, bool) {
	switch e.Kind() {
	case celast.SelectKind:
		if isAttrsIdent(e.AsSelect().Operand()) {
			return e.AsSelect().FieldName(), true
		}
	case celast.CallKind:
		call := e.AsCall()
		args := call.Args()
		if len(args) != 2 {
			return "", false
		}
		switch call.FunctionName() {
		case operators.Index, operators.OptIndex, operators.OptSelect:
			if isAttrsIdent(args[0]) {
				return constString(args[1])
			}
		case operators.In:
			if isAttrsIdent(args[1]) {
				return constString(args[0])
			}
		}
	}
	return "", false
}

func isAttrsIdent(e celast.Expr) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == attrsVar
}

func constString(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// Attributes lists the upstream attributes a connector's claims.map rules read with a
// constant key (attrs.x, attrs["x"], ...), sorted and spelled as the rules spell them. The
// wiring passes them to the connector (connectors.Deps.Attributes), so that a connector
// which fetches only the attributes it asks for (LDAP) asks for these too.
func (n *Normalizer) Attributes(connectorID string) []string {
	if n.rules == nil || n.rules.connectors[connectorID] == nil {
		return nil
	}
	found := map[string]bool{}
	for _, e := range n.rules.connectors[connectorID].maps {
		for _, a := range e.attrs {
			found[a] = true
		}
	}
	return slices.Sorted(maps.Keys(found))
}

// missingAttrHints explains, for each attribute the expression reads that the upstream
// identity does not carry, why the claim may be absent.
func missingAttrHints(e *expr, attrs map[string][]string) []string {
	var hints []string
	for _, name := range missingAttrs(e, attrs) {
		if other := foldKey(attrs, name); other != "" {
			hints = append(hints, fmt.Sprintf("hint: attrs.%s is not in the upstream identity, but %q is: attribute names in rules must be spelled as the upstream spells them", name, other))
			continue
		}
		hints = append(hints, fmt.Sprintf("hint: attrs.%s is not in the upstream identity: the upstream returned no value for it "+
			"(a directory connector asks for every attribute the rules name; the user has no value, or the service account may not read it)", name))
	}
	return hints
}

// foldKey returns a key of attrs equal to name up to case, or "".
func foldKey(attrs map[string][]string, name string) string {
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return ""
}

// undeclaredRe finds the name in CEL's "undeclared reference to 'x'" error.
var undeclaredRe = regexp.MustCompile(`undeclared reference to '([^']+)'`)

// undeclaredHint is appended to a compile error that names an unknown variable: the
// variables the environment declares. An unknown function gets no hint.
func undeclaredHint(env *cel.Env, source, msg string) string {
	m := undeclaredRe.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	parsed, iss := env.Parse(source)
	if iss != nil && iss.Err() != nil {
		return ""
	}
	isVar := false
	celast.PreOrderVisit(parsed.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		isVar = isVar || (e.Kind() == celast.IdentKind && e.AsIdent() == m[1])
	}))
	if !isVar {
		return ""
	}
	names := make([]string, 0, len(env.Variables()))
	for _, v := range env.Variables() {
		names = append(names, v.Name())
	}
	slices.Sort(names)
	return fmt.Sprintf("; %q is not a variable here, the variables are: %s", m[1], strings.Join(names, ", "))
}

// missingAttrs lists the attributes the expression reads that attrs lacks.
func missingAttrs(e *expr, attrs map[string][]string) []string {
	var out []string
	for _, name := range e.attrs {
		if _, ok := attrs[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}
