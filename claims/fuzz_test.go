package claims

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// A small upstream identity every fuzzed expression is evaluated against.
var fuzzVars = upstreamActivation(connectors.Upstream{Subject: "s", Username: "ann", Email: "ann@example.com", EmailVerified: true, Name: "Ann", Groups: []string{"eng-a", "Admin", "staff"}, Attrs: map[string][]string{"displayName": {"Ann"}, "mail": {"a@b"}}, ACR: "x", AMR: []string{"pwd"}})

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"attrs.displayName[0]",
		"groups.map(g, g.upperAscii())",
		"'Admin' in groups ? 'admin' : 'viewer'",
		"email.split('@')[1]",
		"attrs.?mail[0].orValue('')",
		"{'a': groups.size(), 'b': [1, 2.5, true, null]}",
		"groups.map(a, groups.map(b, groups.map(c, a + b + c)))",
		"[1,2,3,4,5,6,7,8,9,10].map(a, [1,2,3,4,5,6,7,8,9,10].map(b, [1,2,3,4,5,6,7,8,9,10].map(c, [1,2,3,4,5,6,7,8,9,10].map(d, a))))",
		"timestamp('2020-01-01T00:00:00Z')",
		"b'bytes'",
		"1/0",
		"double('NaN')",
		"attrs",
		"((((((((((1))))))))))",
		"email.matches('(a+)+$')",
	} {
		for _, claim := range []string{"name", "email_verified", "groups", "custom"} {
			f.Add(claim, s)
		}
	}
	env, err := newEnv(upstreamVars)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, claim, source string) {
		switch claim {
		case "name", "email", "preferred_username", "email_verified", "groups":
		default:
			claim = "custom"
		}
		e, err := compileLimit(env, claim, source, 50_000)
		if err != nil {
			if e != nil {
				t.Fatalf("compile returned both an expression and %v", err)
			}
			return
		}
		if e.cost > MaxExpressionCost {
			t.Fatalf("%q: accepted with estimated cost %d > %d", source, e.cost, MaxExpressionCost)
		}
		v, err := e.eval(context.Background(), fuzzVars)
		if err != nil {
			return
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("%q: result %#v is not JSON: %v", source, v, err)
		}
		switch claim {
		case "name":
			if _, ok := v.(string); !ok {
				t.Fatalf("%q: name = %#v", source, v)
			}
		case "email_verified":
			if _, ok := v.(bool); !ok {
				t.Fatalf("%q: email_verified = %#v", source, v)
			}
		case "groups":
			if _, ok := v.([]string); !ok {
				t.Fatalf("%q: groups = %#v", source, v)
			}
		}
	})
}

// TestExpensiveRefusedAtLoad: expressions whose work explodes with the input are refused
// when the configuration is loaded, not discovered at a login.
func TestExpensiveRefusedAtLoad(t *testing.T) {
	env, err := newEnv(upstreamVars)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		"groups.map(a, groups.map(b, a + b))",
		"groups.map(a, groups.map(b, groups.map(c, a + b + c)))",
		"groups.exists(a, groups.exists(b, groups.exists(c, a == b && b == c)))",
		"attrs.exists(k, attrs[k].exists(v, attrs.exists(k2, attrs[k2].exists(w, v == w))))",
		"[" + strings.Repeat("1,", 99) + "1].map(a, [" + strings.Repeat("1,", 99) + "1].map(b, [" + strings.Repeat("1,", 99) + "1].map(c, a+b+c)))",
		"groups.all(a, groups.all(b, groups.all(c, groups.all(d, true))))", // four levels: nesting limit
	} {
		if _, err := compile(env, "custom", src); err == nil {
			t.Errorf("%s: accepted", src)
		}
	}
	// Cheap expressions over the same inputs are fine.
	for _, src := range []string{"groups.map(g, g.upperAscii())", "groups.filter(g, g.startsWith('eng-')).map(g, g.lowerAscii())", "attrs.displayName[0]"} {
		if _, err := compile(env, "custom", src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
	if _, err := compile(env, "custom", strings.Repeat("a", MaxExpressionLength+1)); err == nil {
		t.Errorf("an over-long expression was accepted")
	}
}
