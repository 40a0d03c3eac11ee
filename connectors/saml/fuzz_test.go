package saml_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

// FuzzFinish feeds arbitrary SAMLResponse values to Finish. It must never panic, and may
// only succeed for the identity the IdP really signed: no mutation forges another one.
func FuzzFinish(f *testing.F) {
	ti := newIdP(f, idpOptions{})
	b := newBrowser(f)
	// An unencrypted response, so that mutations reach the signed XML itself. (Encrypted
	// responses are covered by the flow tests; RSA decryption under the fuzzer's coverage
	// instrumentation is too slow to fuzz.)
	s := newSP(f, ti, spOptions{})
	action, vals, step := s.login(f, b, "st")
	s.clock.Freeze() // the captured response stays within its validity window
	raw, err := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{raw, []byte("<Response/>"), []byte(""), []byte("\x00\xff"),
		[]byte(strings.Replace(string(raw), "staff", "root!", 1)),
		[]byte(strings.Replace(string(raw), aliceSubject, "admin", 1))} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, encode bool) {
		v := withRaw(vals, data)
		if !encode {
			v.Set("SAMLResponse", string(data))
		}
		up, err := s.finish("st", step.Stash, action, v)
		if err != nil {
			return
		}
		if up.Subject != aliceSubject || up.Email != "alice@example.com" || !slices.Equal(up.Groups, []string{"admins", "staff"}) {
			t.Fatalf("forged identity accepted: %+v", up)
		}
	})
}
