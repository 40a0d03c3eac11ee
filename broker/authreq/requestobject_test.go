package authreq

import (
	"errors"
	"slices"
	"testing"
)

// TestRequestParams: a request object's claims become authorization parameters: strings as
// they are, numbers as written, the claims parameter as JSON, an array only for a
// repeatable parameter (resource); JWT claims are dropped.
func TestRequestParams(t *testing.T) {
	tests := []struct {
		payload string
		ok      bool
		want    map[string][]string
	}{
		{`{"iss":"c","aud":"x","exp":1,"jti":"j","scope":"openid","max_age":30,"claims":{"id_token":{"acr":null}}}`, true,
			map[string][]string{"scope": {"openid"}, "max_age": {"30"}, "claims": {`{"id_token":{"acr":null}}`}}},
		{`{"resource":["https://a.example/","https://b.example/"]}`, true, map[string][]string{"resource": {"https://a.example/", "https://b.example/"}}},
		{`{"state":null}`, true, map[string][]string{}},
		{`{"scope":["openid","email"]}`, false, nil},
		{`{"resource":["https://a.example/",5]}`, false, nil},
		{`{"prompt":true}`, false, nil},
		{`{"authorization_details":{"type":"x"}}`, false, nil},
	}
	for _, tc := range tests {
		claims, err := DecodeRequestObjectClaims([]byte(tc.payload))
		if err != nil {
			t.Fatalf("%s: %v", tc.payload, err)
		}
		got, err := requestParams(claims)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.payload, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrRequestObject) {
				t.Errorf("%s: %v does not wrap ErrRequestObject", tc.payload, err)
			}
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.payload, got, tc.want)
		}
		for k, v := range tc.want {
			if !slices.Equal(got[k], v) {
				t.Errorf("%s: %s = %v, want %v", tc.payload, k, got[k], v)
			}
		}
	}
	for _, bad := range []string{`[]`, `{"a":1} x`, `{"a":1}}`, `null`, `{"a":`} {
		if _, err := DecodeRequestObjectClaims([]byte(bad)); err == nil {
			t.Errorf("%s: decoded", bad)
		}
	}
}
