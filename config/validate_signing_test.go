package config

import (
	"strings"
	"testing"
)

func TestValidateSigning(t *testing.T) {
	base := "issuer: https://login.example.com\nconnectors: [{type: local, id: local}]\n"
	hsm := "signing: {backend: pkcs11, module: /usr/lib/softhsm/libsofthsm2.so, token_label: gh, pin_file: /run/secrets/pin, key_label: gatehouse"
	// notBuilt is what a valid pkcs11 block gets from a binary built without the tag.
	notBuilt := ""
	if !PKCS11Built {
		notBuilt = "gatehouse.yaml:3: signing.backend: " + MsgNoPKCS11
	}
	tests := []struct {
		name, yaml string
		want       string // substring of the error; "" = valid
	}{
		{name: "absent", yaml: ""},
		{name: "storage ES256", yaml: "signing: {backend: storage, algorithm: ES256}"},
		{name: "storage EdDSA", yaml: "signing: {algorithm: EdDSA}"},
		{name: "pkcs11", yaml: hsm + "}", want: notBuilt},
		{name: "pkcs11 ES256", yaml: hsm + ", algorithm: ES256}", want: notBuilt},
		{name: "unknown backend", yaml: "signing: {backend: vault}", want: `signing.backend: must be one of storage, pkcs11, got "vault"`},
		{name: "pkcs11 EdDSA", yaml: hsm + ", algorithm: EdDSA}", want: `signing.algorithm: must be one of RS256, ES256, got "EdDSA"`},
		{name: "no module", yaml: "signing: {backend: pkcs11, token_label: gh, pin_file: /p, key_label: gh}", want: "signing.module: is required"},
		{name: "relative module", yaml: "signing: {backend: pkcs11, module: libsofthsm2.so, token_label: gh, pin_file: /p, key_label: gh}", want: "signing.module: must be an absolute path"},
		{name: "no token", yaml: "signing: {backend: pkcs11, module: /m.so, pin_file: /p, key_label: gh}", want: "signing.token_label: is required"},
		{name: "no pin file", yaml: "signing: {backend: pkcs11, module: /m.so, token_label: gh, key_label: gh}", want: "signing.pin_file: is required"},
		{name: "no key label", yaml: "signing: {backend: pkcs11, module: /m.so, token_label: gh, pin_file: /p}", want: `signing.key_label: "" is not a key label`},
		{name: "bad key label", yaml: "signing: {backend: pkcs11, module: /m.so, token_label: gh, pin_file: /p, key_label: 'a b'}", want: `signing.key_label: "a b" is not a key label`},
		{name: "long key label", yaml: "signing: {backend: pkcs11, module: /m.so, token_label: gh, pin_file: /p, key_label: " + strings.Repeat("k", 33) + "}", want: "is not a key label"},
		{name: "module without pkcs11", yaml: "signing: {module: /m.so}", want: "signing.module: is only used with signing.backend: pkcs11"},
		{name: "pin without pkcs11", yaml: "signing: {backend: storage, pin_file: /p}", want: "signing.pin_file: is only used with signing.backend: pkcs11"},
		{name: "unknown key", yaml: "signing: {backend: pkcs11, pin: '1234'}", want: "gatehouse.yaml:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(base+tt.yaml+"\n"), "gatehouse.yaml", nil)
			if err == nil {
				c.ApplyDefaults()
				err = c.Validate()
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
