package samlidp

import (
	"errors"
	"reflect"
	"testing"
)

// Attack (issue 12.10): a RequestedAuthnContext was not enforced; each comparison must
// assert only a class that satisfies it, and refuse (ErrNoAuthnContext) otherwise.
func TestAssertedClass(t *testing.T) {
	const (
		ppt       = ClassPasswordProtectedTransport
		password  = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
		x509      = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
		smartcard = "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI"
		custom    = "urn:example:mfa"
	)
	sp := &ServiceProvider{ID: "app", NameIDFormat: NameIDPersistent, MFAClasses: []string{custom}}
	for _, tc := range []struct {
		name     string
		rc       *RequestedAuthnContext
		achieved string
		want     string // "" for ErrNoAuthnContext
	}{
		{"none asked", nil, ppt, ppt},
		{"exact ppt, password", &RequestedAuthnContext{"exact", []string{ppt}}, ppt, ppt},
		{"exact ppt, mfa", &RequestedAuthnContext{"", []string{ppt}}, ClassMFA, ppt},
		{"exact mfa, password", &RequestedAuthnContext{"exact", []string{ClassMFA}}, ppt, ""},
		{"exact custom, mfa", &RequestedAuthnContext{"exact", []string{custom}}, ClassMFA, custom},
		{"exact x509, mfa", &RequestedAuthnContext{"exact", []string{x509}}, ClassMFA, ""},
		{"minimum password, password", &RequestedAuthnContext{"minimum", []string{password}}, ppt, ppt},
		{"minimum x509, password", &RequestedAuthnContext{"minimum", []string{x509}}, ppt, ""},
		{"minimum x509, mfa", &RequestedAuthnContext{"minimum", []string{x509}}, ClassMFA, ClassMFA},
		{"minimum smartcardpki, mfa", &RequestedAuthnContext{"minimum", []string{smartcard}}, ClassMFA, ClassMFA},
		{"maximum ppt, mfa", &RequestedAuthnContext{"maximum", []string{ppt}}, ClassMFA, ppt},
		{"maximum password, password", &RequestedAuthnContext{"maximum", []string{password}}, ppt, ""},
		{"better ppt, password", &RequestedAuthnContext{"better", []string{ppt}}, ppt, ""},
		{"better ppt, mfa", &RequestedAuthnContext{"better", []string{ppt}}, ClassMFA, ClassMFA},
		{"better mfa, mfa", &RequestedAuthnContext{"better", []string{ClassMFA}}, ClassMFA, ""},
		{"unknown class", &RequestedAuthnContext{"minimum", []string{"urn:example:retina"}}, ClassMFA, ""},
		{"declarations only", &RequestedAuthnContext{"exact", nil}, ppt, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := assertedClass(&AuthnRequest{SP: sp, AuthnContext: tc.rc}, tc.achieved)
			if tc.want == "" {
				if !errors.Is(err, ErrNoAuthnContext) {
					t.Fatalf("got %q, %v; want ErrNoAuthnContext", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestRequestPolicyRoundTrip(t *testing.T) {
	for _, in := range []AuthnRequest{
		{},
		{NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient", SPNameQualifier: "https://a&b=c"},
		{AuthnContext: &RequestedAuthnContext{Comparison: "minimum", Classes: []string{"a b", "https://refeds.org/profile/mfa"}}},
		{AuthnContext: &RequestedAuthnContext{Comparison: "exact"}},
	} {
		var out AuthnRequest
		if err := out.SetPolicy(in.Policy()); err != nil {
			t.Fatal(err)
		}
		if in.AuthnContext != nil && in.AuthnContext.Classes == nil {
			in.AuthnContext.Classes = nil
		}
		if out.NameIDFormat != in.NameIDFormat || out.SPNameQualifier != in.SPNameQualifier ||
			(in.AuthnContext == nil) != (out.AuthnContext == nil) ||
			in.AuthnContext != nil && (out.AuthnContext.Comparison != in.AuthnContext.Comparison ||
				len(in.AuthnContext.Classes)+len(out.AuthnContext.Classes) > 0 && !reflect.DeepEqual(out.AuthnContext.Classes, in.AuthnContext.Classes)) {
			t.Errorf("round trip of %+v: %+v (%q)", in, out, in.Policy())
		}
	}
}
