package authreq

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

// TestParseClaimsRequest: the OIDC Core 5.5 shape is accepted (null or an object per claim,
// unknown top-level members ignored) and everything else refused, with bounds.
func TestParseClaimsRequest(t *testing.T) {
	many := make([]string, maxClaimsRequested+1)
	for i := range many {
		many[i] = `"c` + strings.Repeat("x", i) + `":null`
	}
	tests := []struct {
		in        string
		ok        bool
		essential []string // id_token claims marked essential
	}{
		{`{"id_token":{"email":{"essential":true},"name":null},"userinfo":{"groups":null}}`, true, []string{"email"}},
		{`{"id_token":{"acr":{"values":["mfa"]}},"other":{"x":1}}`, true, nil},
		{`{"userinfo":null}`, true, nil},
		{`{}`, true, nil},
		{`{"id_token":{"email":{"essential":false,"value":"a@b","extra":1}}}`, true, nil},
		{``, false, nil},
		{`null`, false, nil},
		{`[]`, false, nil},
		{`{"id_token":[]}`, false, nil},
		{`{"id_token":{"email":true}}`, false, nil},
		{`{"id_token":{"email":{"essential":1}}}`, false, nil},
		{`{"id_token":{"acr":{"values":"mfa"}}}`, false, nil},
		{`{"id_token":{"":null}}`, false, nil},
		{`{"id_token":{}} {}`, false, nil},
		{`{"id_token":{}}}`, false, nil},
		{`{"id_token":{` + strings.Join(many, ",") + `}}`, false, nil},
		{`{"id_token":{"x":null` + strings.Repeat(" ", MaxClaimsParam) + `}}`, false, nil},
	}
	for _, tc := range tests {
		cr, err := ParseClaimsRequest(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%.80q: err %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrClaimsParam) {
				t.Errorf("%.80q: %v does not wrap ErrClaimsParam", tc.in, err)
			}
			continue
		}
		var ess []string
		for name, c := range cr.IDToken {
			if c != nil && c.Essential {
				ess = append(ess, name)
			}
		}
		if !slices.Equal(ess, tc.essential) {
			t.Errorf("%.80q: essential %v, want %v", tc.in, ess, tc.essential)
		}
	}
}

// TestClaimsACRJoinsACRValues: acr values asked for in the ID token (value or values) join
// acr_values once; a malformed claims parameter is invalid_request at the redirect URI.
func TestClaimsACRJoinsACRValues(t *testing.T) {
	reg := testRegistry(t)
	req, _, err := Parse(base(map[string]string{"acr_values": "mfa", "claims": `{"id_token":{"acr":{"essential":true,"value":"pwd","values":["mfa","phr",5]}}}`}), reg, knownScope)
	if err != nil || !slices.Equal(req.ACRValues, []string{"mfa", "pwd", "phr"}) || req.Claims == nil {
		t.Fatalf("acr values %v, err %v", req.ACRValues, err)
	}
	_, _, err = Parse(base(map[string]string{"claims": `{"id_token":`}), reg, knownScope)
	if e := oauth2err.As(err); e.Code != oauth2err.InvalidRequest || e.NoRedirect {
		t.Fatalf("malformed claims: %v", err)
	}
}
