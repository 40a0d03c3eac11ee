package samlidp

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/storage"
)

// defaultAttributes are sent to SPs that configure no attributes.
var defaultAttributes = map[string]string{
	"email": "email", "email_verified": "email_verified", "name": "name", "preferred_username": "preferred_username", "groups": "groups",
}

// attributes renders the SP's attributes (its attributes map, or the defaults) from the
// claims. An SP may sign users in by their email, so an unverified email never leaves as an
// attribute: attributes of the email claim are left out, and an email_verified attribute
// (added when the map has none) tells the SP why.
func attributes(sp *ServiceProvider, id storage.Identity, cl map[string]any) []Attribute {
	attrMap := sp.Attributes
	if len(attrMap) == 0 {
		attrMap = defaultAttributes
	}
	claimsMapped := slices.Collect(maps.Values(attrMap))
	_, nameTaken := attrMap["email_verified"]
	if slices.Contains(claimsMapped, "email") && !slices.Contains(claimsMapped, "email_verified") && !nameTaken {
		attrMap = maps.Clone(attrMap)
		attrMap["email_verified"] = "email_verified"
	}
	var attrs []Attribute
	for _, n := range slices.Sorted(maps.Keys(attrMap)) {
		claim := attrMap[n]
		if claim == "email" && !id.EmailVerified {
			continue
		}
		vals := claimValues(claim, id, cl)
		if claim == "email_verified" && id.Email != "" {
			vals = []string{strconv.FormatBool(id.EmailVerified)}
		}
		if len(vals) > 0 {
			attrs = append(attrs, Attribute{Name: n, Values: vals})
		}
	}
	return attrs
}

// claimValues renders one claim as SAML attribute values: "sub" is the internal user ID;
// other claims come from the pipeline's output, then from the identity's extra claims.
func claimValues(claim string, id storage.Identity, cl map[string]any) []string {
	var v any
	switch claim {
	case "sub":
		v = id.Subject
	default:
		var ok bool
		if v, ok = cl[claim]; !ok {
			v = id.Extra[claim]
		}
	}
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	case []string:
		return slices.Clone(x)
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	case bool:
		return []string{strconv.FormatBool(x)}
	default:
		if b, err := json.Marshal(x); err == nil {
			return []string{strings.Trim(string(b), `"`)}
		}
		return []string{fmt.Sprint(x)}
	}
}
