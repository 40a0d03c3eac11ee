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

// TestClaimsSubject: value / values of sub (OIDC Core 5.5.1) become the subjects the flow
// must end with; a sub value that could read as "any user" (not a string, empty, an empty
// values array) and id_token and userinfo members that cannot agree are invalid_request.
// The names asked for are kept, sorted, per member.
func TestClaimsSubject(t *testing.T) {
	reg := testRegistry(t)
	tests := []struct {
		claims  string
		ok      bool
		subject []string
	}{
		{`{"id_token":{"sub":{"value":"u1"}}}`, true, []string{"u1"}},
		{`{"id_token":{"sub":{"values":["u1","u2"]}}}`, true, []string{"u1", "u2"}},
		{`{"id_token":{"sub":{"essential":true}}}`, true, nil},
		{`{"id_token":{"sub":null}}`, true, nil},
		{`{"id_token":{"sub":{"values":["u1","u2"]}},"userinfo":{"sub":{"value":"u2"}}}`, true, []string{"u2"}},
		{`{"userinfo":{"sub":{"value":"u3"}}}`, true, []string{"u3"}},
		{`{"id_token":{"sub":{"value":"u1"}},"userinfo":{"sub":{"value":"u2"}}}`, false, nil},
		{`{"id_token":{"sub":{"value":""}}}`, false, nil},
		{`{"id_token":{"sub":{"value":null}}}`, false, nil},
		{`{"id_token":{"sub":{"value":5}}}`, false, nil},
		{`{"id_token":{"sub":{"values":[]}}}`, false, nil},
		{`{"id_token":{"sub":{"values":["u1",""]}}}`, false, nil},
		{`{"id_token":{"sub":{"values":["u1",2]}}}`, false, nil},
	}
	for _, tc := range tests {
		req, _, err := Parse(base(map[string]string{"claims": tc.claims}), reg, knownScope)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.claims, err, tc.ok)
			continue
		}
		if err != nil {
			if e := oauth2err.As(err); e.Code != oauth2err.InvalidRequest || e.NoRedirect {
				t.Errorf("%s: %v, want a redirected invalid_request", tc.claims, err)
			}
			continue
		}
		if !slices.Equal(req.ClaimsSubject, tc.subject) {
			t.Errorf("%s: subject %q, want %q", tc.claims, req.ClaimsSubject, tc.subject)
		}
		rc := req.RequestedClaims()
		if got := rc.Subject; !slices.Equal(got, tc.subject) {
			t.Errorf("%s: stored subject %q, want %q", tc.claims, got, tc.subject)
		}
	}
	req, _, err := Parse(base(map[string]string{"claims": `{"id_token":{"name":null,"email":null},"userinfo":{"groups":{"essential":true}}}`}), reg, knownScope)
	if err != nil {
		t.Fatal(err)
	}
	rc := req.RequestedClaims()
	if !slices.Equal(rc.IDToken, []string{"email", "name"}) || !slices.Equal(rc.UserInfo, []string{"groups"}) || rc.Subject != nil {
		t.Errorf("stored request %+v", rc)
	}
	if req, _, _ := Parse(base(map[string]string{"claims": `{"id_token":{}}`}), reg, knownScope); req.RequestedClaims() != nil {
		t.Errorf("an empty claims request is stored as %+v", req.RequestedClaims())
	}
}
