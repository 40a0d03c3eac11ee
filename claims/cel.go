package claims

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// Limits on claim expressions. An expression is refused at load when its worst-case cost,
// estimated with the size hints below, exceeds MaxExpressionCost; at run time evaluation
// stops at the same cost.
const (
	// MaxExpressionCost bounds the estimated and the actual cost of one expression (CEL cost
	// units: roughly one per operation, plus the length of strings scanned or copied).
	MaxExpressionCost = 1_000_000
	// MaxExpressionLength bounds the source text of one expression.
	MaxExpressionLength = 4096
	// MaxResultBytes bounds the size of one expression's result: the bytes of its strings
	// plus one per list element, map entry or scalar. A larger result fails the login.
	MaxResultBytes = 1 << 20

	// Size hints for cost estimation: the largest inputs an expression is assumed to see.
	hintString    = 512  // characters in one value (an email, a name, one attribute value)
	hintGroup     = 128  // characters in one group name
	hintKey       = 256  // characters in an attribute name
	hintGroups    = 1000 // groups of one user
	hintAttrs     = 256  // attribute names
	hintAttrVals  = 100  // values of one attribute
	hintClaims    = 64   // extra claims of an identity
	hintShortList = 16   // amr values
)

// Variables of the upstream environment (connector claims.map).
var upstreamVars = []cel.EnvOption{
	cel.Variable("subject", cel.StringType),
	cel.Variable("username", cel.StringType),
	cel.Variable("email", cel.StringType),
	cel.Variable("email_verified", cel.BoolType),
	cel.Variable("name", cel.StringType),
	cel.Variable("groups", cel.ListType(cel.StringType)),
	cel.Variable("attrs", cel.MapType(cel.StringType, cel.ListType(cel.StringType))),
	cel.Variable("acr", cel.StringType),
	cel.Variable("amr", cel.ListType(cel.StringType)),
}

// Variables of the identity environment (clients[].claims.extra): the final identity.
var identityVars = []cel.EnvOption{
	cel.Variable("subject", cel.StringType),
	cel.Variable("username", cel.StringType),
	cel.Variable("email", cel.StringType),
	cel.Variable("email_verified", cel.BoolType),
	cel.Variable("name", cel.StringType),
	cel.Variable("groups", cel.ListType(cel.StringType)),
	cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
	cel.Variable("connector", cel.StringType),
	cel.Variable("acr", cel.StringType),
	cel.Variable("amr", cel.ListType(cel.StringType)),
}

// sizeHints tells the cost estimator how large each variable can be.
type sizeHints struct{}

func (sizeHints) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	p := n.Path()
	if len(p) == 0 {
		return nil
	}
	size := func(n uint64) *checker.SizeEstimate { return &checker.SizeEstimate{Min: 0, Max: n} }
	last := p[len(p)-1]
	switch {
	case len(p) == 1 && p[0] == "groups":
		return size(hintGroups)
	case len(p) == 1 && p[0] == "amr":
		return size(hintShortList)
	case len(p) == 1 && p[0] == "attrs":
		return size(hintAttrs)
	case len(p) == 1 && p[0] == "claims":
		return size(hintClaims)
	case last == "@keys":
		return size(hintKey)
	case len(p) == 2 && p[0] == "groups":
		return size(hintGroup)
	case len(p) == 2 && p[0] == "attrs":
		// attrs.name or attrs["name"]: the values of one attribute.
		return size(hintAttrVals)
	}
	// Every other reachable value is a string (or, under claims, a JSON value) of bounded size.
	return size(hintString)
}

func (sizeHints) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	return nil
}

// newEnv builds a CEL environment with Gatehouse's variables and library: the standard
// functions, string extensions (lowerAscii, upperAscii, split, replace, ...), list
// extensions and optional values.
func newEnv(vars []cel.EnvOption) (*cel.Env, error) {
	opts := append([]cel.EnvOption{}, vars...)
	opts = append(opts,
		ext.Strings(), ext.Lists(), ext.Sets(), cel.OptionalTypes(),
		cel.ParserExpressionSizeLimit(MaxExpressionLength),
		cel.ParserRecursionLimit(100),
		cel.ASTValidators(cel.ValidateComprehensionNestingLimit(3)),
		cel.CostEstimatorOptions(checker.OverloadCostEstimate("string_format", estimateFormat)),
	)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("claims: CEL environment: %w", err)
	}
	return env, nil
}

// estimateFormat is the load-time cost of "...".format(list): CEL counts only the format
// string; Gatehouse also counts what the arguments may add (each at most hintString
// characters), so that a format inside a loop over groups is refused like the same
// expression written with + (issue 25.8).
func estimateFormat(est checker.CostEstimator, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	if target == nil || len(args) != 1 {
		return nil
	}
	size := nodeSize(est, *target) + nodeSize(est, args[0])*hintString
	return &checker.CallEstimate{
		CostEstimate: checker.CostEstimate{Min: 1, Max: size},
		ResultSize:   &checker.SizeEstimate{Min: 0, Max: size},
	}
}

// nodeSize is the estimated maximum size of a node (hintString when nothing is known).
func nodeSize(est checker.CostEstimator, n checker.AstNode) uint64 {
	if s := n.ComputedSize(); s != nil {
		return s.Max
	}
	if s := est.EstimateSize(n); s != nil {
		return s.Max
	}
	return hintString
}

// extensionTrackers charges, at run time, every overload the extension libraries add (format,
// join, replace, split, upperAscii, lists.range, ...) for the size of its arguments and of its
// result. CEL's own cost model charges those calls one unit each, whatever they build, so
// `groups.map(g, "%s".format([name]))` escaped the cost limit that the same expression
// written with + hits (issue 25.8). The core library's overloads keep CEL's own costs.
func extensionTrackers(env *cel.Env) ([]interpreter.CostTrackerOption, error) {
	coreIDs, err := coreOverloadIDs()
	if err != nil {
		return nil, err
	}
	var opts []interpreter.CostTrackerOption
	for _, f := range env.Functions() {
		for _, o := range f.OverloadDecls() {
			if !coreIDs[o.ID()] {
				opts = append(opts, interpreter.OverloadCostTracker(o.ID(), chargeSizes))
			}
		}
	}
	return opts, nil
}

// coreOverloadIDs are the overload IDs of CEL's core library (with optional types), built
// once rather than with a new environment for every expression compiled.
var coreOverloadIDs = sync.OnceValues(func() (map[string]bool, error) {
	core, err := cel.NewEnv(cel.OptionalTypes())
	if err != nil {
		return nil, fmt.Errorf("claims: CEL environment: %w", err)
	}
	ids := map[string]bool{}
	for _, f := range core.Functions() {
		for _, o := range f.OverloadDecls() {
			ids[o.ID()] = true
		}
	}
	return ids, nil
})

// chargeSizes is the cost of a call that reads its arguments and builds its result: one,
// plus the sizes of both.
func chargeSizes(args []ref.Val, result ref.Val) *uint64 {
	c := 1 + valSize(result)
	for _, a := range args {
		c += valSize(a)
	}
	return &c
}

// valSize is a value's size as CEL's cost model counts it: characters of a string, elements
// of a list or map, one for anything else.
func valSize(v ref.Val) uint64 {
	switch x := v.(type) {
	case types.String:
		return uint64(len(x))
	case traits.Sizer:
		if n, ok := x.Size().(types.Int); ok && n > 0 {
			return uint64(n)
		}
	}
	return 1
}

// outKind is what a claim expression must produce.
type outKind int

const (
	outAny     outKind = iota // any JSON value
	outString                 // email, name, preferred_username
	outBool                   // email_verified
	outStrings                // groups
)

func kindOf(claim string) outKind {
	switch claim {
	case "email", "name", "preferred_username":
		return outString
	case "email_verified":
		return outBool
	case "groups":
		return outStrings
	}
	return outAny
}

func (k outKind) String() string {
	switch k {
	case outString:
		return "a string"
	case outBool:
		return "a bool"
	case outStrings:
		return "a list of strings"
	}
	return "a JSON value (string, number, bool, null, list or map)"
}

// expr is one compiled claim expression.
type expr struct {
	claim  string
	source string
	want   outKind
	prg    cel.Program
	// cost is the estimated worst-case cost.
	cost uint64
	// attrs are the attribute names the expression reads with a constant key.
	attrs []string
}

// compile parses, type-checks and cost-checks one expression for a claim.
func compile(env *cel.Env, claim, source string) (*expr, error) {
	return compileLimit(env, claim, source, MaxExpressionCost)
}

// compileLimit is compile with a run-time cost limit (tests use small ones).
func compileLimit(env *cel.Env, claim, source string, runtimeLimit uint64) (*expr, error) {
	if strings.TrimSpace(source) == "" {
		return nil, errors.New("the expression is empty")
	}
	if len(source) > MaxExpressionLength {
		return nil, fmt.Errorf("the expression is longer than %d characters", MaxExpressionLength)
	}
	ast, iss := env.Compile(source)
	if iss != nil && iss.Err() != nil {
		msg := iss.Err().Error()
		return nil, fmt.Errorf("invalid CEL: %s%s", oneLine(msg), undeclaredHint(env, source, msg))
	}
	want := kindOf(claim)
	if err := checkOutput(ast.OutputType(), want); err != nil {
		return nil, err
	}
	est, err := env.EstimateCost(ast, sizeHints{})
	if err != nil {
		return nil, fmt.Errorf("cannot estimate the cost of the expression: %w", err)
	}
	if est.Max > MaxExpressionCost {
		return nil, fmt.Errorf("the expression may be too expensive: its estimated worst-case cost %s exceeds the limit %d "+
			"(avoid nested loops over groups or attributes)", costString(est.Max), MaxExpressionCost)
	}
	trackers, err := extensionTrackers(env)
	if err != nil {
		return nil, err
	}
	prg, err := env.Program(ast, cel.CostLimit(runtimeLimit), cel.CostTrackerOptions(trackers...), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, fmt.Errorf("invalid CEL: %w", err)
	}
	return &expr{claim: claim, source: source, want: want, prg: prg, cost: est.Max, attrs: attrsRead(ast)}, nil
}

func costString(c uint64) string {
	if c == math.MaxUint64 {
		return "(unbounded)"
	}
	return fmt.Sprint(c)
}

// oneLine folds CEL's multi-line error (with a caret diagram) into one line.
func oneLine(s string) string {
	s = strings.TrimPrefix(s, "ERROR: <input>:")
	lines := strings.Split(s, "\n")
	return strings.TrimSpace(lines[0])
}

// checkOutput refuses expressions whose static type cannot produce what the claim needs.
func checkOutput(t *cel.Type, want outKind) error {
	if t == nil || t.Kind() == types.DynKind || t.Kind() == types.AnyKind {
		return nil // checked at run time
	}
	var ok bool
	switch want {
	case outString:
		ok = t.Kind() == types.StringKind
	case outBool:
		ok = t.Kind() == types.BoolKind
	case outStrings:
		ok = t.Kind() == types.ListKind && len(t.Parameters()) == 1 &&
			(t.Parameters()[0].Kind() == types.StringKind || t.Parameters()[0].Kind() == types.DynKind)
	default:
		ok = jsonKind(t)
	}
	if !ok {
		return fmt.Errorf("the expression returns %s, but this claim needs %s", t.String(), want)
	}
	return nil
}

// jsonKind reports whether values of type t can become JSON.
func jsonKind(t *cel.Type) bool {
	switch t.Kind() {
	case types.StringKind, types.BoolKind, types.IntKind, types.UintKind, types.DoubleKind,
		types.NullTypeKind, types.DynKind, types.AnyKind:
		return true
	case types.ListKind:
		return len(t.Parameters()) == 1 && jsonKind(t.Parameters()[0])
	case types.MapKind:
		p := t.Parameters()
		return len(p) == 2 && (p[0].Kind() == types.StringKind || p[0].Kind() == types.DynKind) && jsonKind(p[1])
	case types.OpaqueKind:
		return t.TypeName() == "optional_type" && len(t.Parameters()) == 1 && jsonKind(t.Parameters()[0])
	}
	return false
}

// errAbsent reports that an expression produced no value (an empty optional).
var errAbsent = errors.New("no value")

// eval runs the expression over vars and converts the result for the claim. It returns
// errAbsent for an empty optional.
func (e *expr) eval(ctx context.Context, vars map[string]any) (any, error) {
	out, _, err := e.prg.ContextEval(ctx, vars)
	if err != nil {
		return nil, err
	}
	if n := resultSize(out, 0); n > MaxResultBytes {
		return nil, &LimitError{What: "the expression's result", Limit: fmt.Sprintf("%d bytes", MaxResultBytes)}
	}
	v, err := toJSON(out, 0)
	if err != nil {
		return nil, err
	}
	if v == nil && isEmptyOptional(out) {
		return nil, errAbsent
	}
	switch e.want {
	case outString:
		if _, ok := v.(string); !ok {
			return nil, fmt.Errorf("returned %s, want a string", describe(v))
		}
	case outBool:
		if _, ok := v.(bool); !ok {
			return nil, fmt.Errorf("returned %s, want a bool", describe(v))
		}
	case outStrings:
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("returned %s, want a list of strings", describe(v))
		}
		ss := make([]string, 0, len(list))
		for _, x := range list {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("returned a list containing %s, want only strings", describe(x))
			}
			ss = append(ss, s)
		}
		return ss, nil
	}
	return v, nil
}

func isEmptyOptional(v ref.Val) bool {
	o, ok := v.(*types.Optional)
	return ok && !o.HasValue()
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a bool"
	case int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%T", v)
}

// toJSON converts a CEL value to a JSON-compatible Go value.
func toJSON(v ref.Val, depth int) (any, error) {
	if depth > 32 {
		return nil, errors.New("value nested too deeply")
	}
	switch x := v.(type) {
	case *types.Err:
		return nil, x
	case types.String:
		return string(x), nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		return uint64(x), nil
	case types.Double:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errors.New("returned a number that JSON cannot represent (NaN or infinity)")
		}
		return f, nil
	case types.Null:
		return nil, nil
	case *types.Optional:
		if !x.HasValue() {
			return nil, nil
		}
		return toJSON(x.GetValue(), depth+1)
	}
	if l, ok := v.(traits.Lister); ok {
		n, ok := l.Size().(types.Int)
		if !ok {
			return nil, errors.New("list of unknown size")
		}
		out := make([]any, 0, int(n))
		for it := l.Iterator(); it.HasNext() == types.True; {
			e, err := toJSON(it.Next(), depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}
	if m, ok := v.(traits.Mapper); ok {
		out := map[string]any{}
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("returned a map with a non-string key (%s)", k.Type().TypeName())
			}
			e, err := toJSON(m.Get(k), depth+1)
			if err != nil {
				return nil, err
			}
			out[string(ks)] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("returned a %s, which is not a JSON value", v.Type().TypeName())
}

// resultSize adds up the bytes of a result's strings and one per element, entry or scalar,
// stopping early once past MaxResultBytes.
func resultSize(v ref.Val, depth int) uint64 {
	if depth > 32 {
		return MaxResultBytes + 1 // toJSON refuses it anyway
	}
	switch x := v.(type) {
	case types.String:
		return uint64(len(x)) + 1
	case *types.Optional:
		if x.HasValue() {
			return resultSize(x.GetValue(), depth+1)
		}
		return 1
	}
	var n uint64 = 1
	if l, ok := v.(traits.Lister); ok {
		for it := l.Iterator(); it.HasNext() == types.True && n <= MaxResultBytes; {
			n += resultSize(it.Next(), depth+1)
		}
		return n
	}
	if m, ok := v.(traits.Mapper); ok {
		for it := m.Iterator(); it.HasNext() == types.True && n <= MaxResultBytes; {
			k := it.Next()
			n += resultSize(k, depth+1) + resultSize(m.Get(k), depth+1)
		}
	}
	return n
}

// LimitError reports that a login's data exceeded one of the claims pipeline's size or cost
// limits. The login fails; nothing is truncated.
type LimitError struct {
	// What names what was too large ("the expression's result").
	What string
	// Limit is the limit, in words ("1048576 bytes").
	Limit string
}

func (e *LimitError) Error() string { return e.What + " is larger than the limit of " + e.Limit }

// isLimitError reports whether err is a size limit or a cost limit error.
func isLimitError(err error) bool {
	var le *LimitError
	return errors.As(err, &le) || isCostError(err)
}
