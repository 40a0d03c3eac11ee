package ldap

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
)

// These tests forge service tickets with keys of a test keytab (as a KDC would), to check the
// ticket verification without a KDC; connectors/ldap/kerberos_peers_test.go runs the whole
// path against Samba AD's KDC with MIT kinit and curl --negotiate.

const (
	testRealm = "CORP.EXAMPLE.TEST"
	testSPN   = "HTTP/sso.corp.example.test"
)

// testKeytab writes a keytab of the service principal derived from password.
func testKeytab(t *testing.T, password string) (*keytab.Keytab, string) {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry(testSPN, testRealm, password, time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	data, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "http.keytab")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return kt, path
}

// negotiateHeader forges "Negotiate <SPNEGO AP-REQ>" for user@realm, encrypted with kt's key,
// the ticket valid from start to end.
func negotiateHeader(t *testing.T, kt *keytab.Keytab, user, realm string, start, end time.Time) string {
	t.Helper()
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, testSPN)
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user)
	tkt, key, err := messages.NewTicket(cname, realm, sname, testRealm, types.NewKrbFlags(), kt,
		etypeID.AES256_CTS_HMAC_SHA1_96, 1, start, start, end, end)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword(user, realm, "unused", krbconfig.New())
	init, err := spnego.NewNegTokenInitKRB5(cl, tkt, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&spnego.SPNEGOToken{Init: true, NegTokenInit: init}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return "Negotiate " + base64.StdEncoding.EncodeToString(b)
}

// kerberosConnector opens an AD connector with a kerberos block over path (no I/O to LDAP).
func kerberosConnector(t *testing.T, path string) *KerberosConnector {
	t.Helper()
	c := validConfig()
	c.Preset = PresetActiveDirectory
	c.Kerberos = &Kerberos{Keytab: path, Realms: []string{testRealm}, ServicePrincipal: testSPN}
	conn, err := c.Open(context.Background(), connectors.Info{ID: "corp", Type: "ldap"}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	kc, ok := conn.(*KerberosConnector)
	if !ok {
		t.Fatalf("Open returned %T, want *KerberosConnector", conn)
	}
	t.Cleanup(func() { kc.Close() })
	return kc
}

// TestNegotiateVerify proves the ticket checks before the directory is asked: only a
// Kerberos AP-REQ sealed with the keytab's key, inside its validity, for a configured realm,
// never seen before, names a user; no or non-Kerberos headers are "no ticket" (the form).
func TestNegotiateVerify(t *testing.T) {
	kt, path := testKeytab(t, "service-key-1")
	other, _ := testKeytab(t, "another-service-key")
	kc := kerberosConnector(t, path)
	now := time.Now().UTC()
	good := negotiateHeader(t, kt, "alice", testRealm, now.Add(-time.Minute), now.Add(time.Hour))
	tk, err := kc.krb.verify(good)
	if err != nil {
		t.Fatalf("valid ticket refused: %v", err)
	}
	if tk.user != "alice" || tk.realm != testRealm || !tk.authTime.Equal(now.Add(-time.Minute).Truncate(time.Second)) {
		t.Errorf("ticket %+v", tk)
	}
	ntlm := "Negotiate " + base64.StdEncoding.EncodeToString([]byte("NTLMSSP\x00\x01\x00\x00\x00"))
	tests := []struct {
		name   string
		header string
		want   error
	}{
		{"no header", "", connectors.ErrNoTicket},
		{"basic", "Basic YWxpY2U6eA==", connectors.ErrNoTicket},
		{"NTLM", ntlm, connectors.ErrNoTicket},
		{"oversized", "Negotiate " + strings.Repeat("A", maxNegotiateHeader), connectors.ErrNoTicket},
		{"not base64", "Negotiate !!!", connectors.ErrBadCredentials},
		{"garbage", "Negotiate " + base64.StdEncoding.EncodeToString([]byte("garbage")), connectors.ErrBadCredentials},
		{"replayed", good, connectors.ErrBadCredentials},
		{"expired", negotiateHeader(t, kt, "alice", testRealm, now.Add(-2*time.Hour), now.Add(-time.Hour)), connectors.ErrBadCredentials},
		{"not yet valid", negotiateHeader(t, kt, "alice", testRealm, now.Add(time.Hour), now.Add(2*time.Hour)), connectors.ErrBadCredentials},
		{"wrong service key", negotiateHeader(t, other, "alice", testRealm, now.Add(-time.Minute), now.Add(time.Hour)), connectors.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kc.Negotiate(context.Background(), connectors.Scopes{}, tt.header)
			if !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
		})
	}
	// Valid tickets that must not reach the directory either (it is unreachable here, so
	// reaching it would be an UpstreamError, not bad credentials).
	for _, h := range []string{
		negotiateHeader(t, kt, "alice", "EVIL.TEST", now.Add(-time.Minute), now.Add(time.Hour)),
		negotiateHeader(t, kt, "HTTP/evil", testRealm, now.Add(-time.Minute), now.Add(time.Hour)),
	} {
		if _, err := kc.Negotiate(context.Background(), connectors.Scopes{}, h); !errors.Is(err, connectors.ErrBadCredentials) {
			t.Errorf("foreign realm or service principal: err %v, want bad credentials", err)
		}
	}
}

// seenReplay is a shared replay cache in which every identifier was already used (by
// another replica).
type seenReplay struct{ ids []string }

func (r *seenReplay) Consume(_ context.Context, id string, _ time.Time) error {
	r.ids = append(r.ids, id)
	return connectors.ErrReplayed
}

// TestNegotiateSharedReplay proves an authenticator another replica has seen is refused:
// the shared replay cache (connectors.Deps.ReplayCache) is consulted, not only gokrb5's
// per-process one, and no user name is stored in it.
func TestNegotiateSharedReplay(t *testing.T) {
	kt, path := testKeytab(t, "service-key-2")
	c := validConfig()
	c.Kerberos = &Kerberos{Keytab: path, Realms: []string{testRealm}}
	rc := &seenReplay{}
	conn, err := c.Open(context.Background(), connectors.Info{ID: "corp"}, connectors.Deps{ReplayCache: rc})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	now := time.Now()
	h := negotiateHeader(t, kt, "bob", testRealm, now.Add(-time.Minute), now.Add(time.Hour))
	_, err = conn.(connectors.NegotiateConnector).Negotiate(context.Background(), connectors.Scopes{}, h)
	if !errors.Is(err, connectors.ErrBadCredentials) || len(rc.ids) != 1 || strings.Contains(rc.ids[0], "bob") {
		t.Errorf("err %v, replay ids %q", err, rc.ids)
	}
}

// TestKerberosConfig proves the kerberos block is decoded strictly and validated, and that
// only a connector with it negotiates.
func TestKerberosConfig(t *testing.T) {
	_, path := testKeytab(t, "k")
	tests := []struct {
		name string
		k    Kerberos
		want []string
	}{
		{"valid", Kerberos{Keytab: path, Realms: []string{testRealm}}, nil},
		{"missing", Kerberos{}, []string{"kerberos.keytab: required", "kerberos.realms: required"}},
		{"bad values", Kerberos{Keytab: path, Realms: []string{"corp@x"}, ServicePrincipal: "HTTP/x@R", UsernameAttr: "a b", MaxClockSkew: 2 * time.Hour},
			[]string{"kerberos.realms[0]", "kerberos.service_principal", "kerberos.username_attr", "kerberos.max_clock_skew"}},
		{"skew under a second", Kerberos{Keytab: path, Realms: []string{testRealm}, MaxClockSkew: time.Millisecond},
			[]string{"kerberos.max_clock_skew: 1ms outside [1s, 1h]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.Kerberos = &tt.k
			err := c.Validate()
			if len(tt.want) == 0 && err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want %q", err, w)
				}
			}
		})
	}
	c := validConfig()
	if d := c.withDefaults(); d.Kerberos != nil {
		t.Error("kerberos defaults without a kerberos block")
	}
	c.Kerberos = &Kerberos{Keytab: path, Realms: []string{testRealm}}
	if d := c.withDefaults(); d.Kerberos.UsernameAttr != "uid" || d.Kerberos.MaxClockSkew != DefaultMaxClockSkew {
		t.Errorf("defaults %+v", d.Kerberos)
	}
	c.Preset = PresetActiveDirectory
	c.UserSearch.Username = nil
	if d := c.withDefaults(); d.Kerberos.UsernameAttr != "sAMAccountName" {
		t.Errorf("AD defaults %+v", d.Kerberos)
	}
	c.Kerberos.ServicePrincipal = "HTTP/other.example"
	if _, err := c.Open(context.Background(), connectors.Info{ID: "corp"}, connectors.Deps{}); err == nil || !strings.Contains(err.Error(), "no key for") {
		t.Errorf("service principal missing from the keytab: %v", err)
	}
	plain, err := validConfig().Open(context.Background(), connectors.Info{ID: "corp"}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plain.(connectors.NegotiateConnector); ok {
		t.Error("a connector without kerberos negotiates")
	}
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("kerberos: {keytab: /k, realm: X}\n"), &node); err != nil {
		t.Fatal(err)
	}
	var bad Config
	if err := config.DecodeStrict(node.Content[0], &bad, "gatehouse.yaml", "connectors[0].config", os.Getenv); err == nil || !strings.Contains(err.Error(), "realm") {
		t.Errorf("unknown kerberos key: %v", err)
	}
}
