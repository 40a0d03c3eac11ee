//go:build peers

package e2e

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
)

// goSP is a crewjam/saml service provider (strict: signatures, audience, Destination,
// InResponseTo) whose metadata is written to a file for `gatehouse sp create --metadata`.
type goSP struct {
	sp       *saml.ServiceProvider
	metadata string
}

func newGoSP(t *testing.T, dir, base string) *goSP {
	t.Helper()
	key, cert, err := samlidp.LoadKeyFiles("../broker/samlidp/testdata/sp.pem", "../broker/samlidp/testdata/sp.pem")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := url.Parse(base + "/metadata")
	acs, _ := url.Parse(base + "/acs")
	slo, _ := url.Parse(base + "/slo")
	sp := &saml.ServiceProvider{EntityID: md.String(), Key: key, Certificate: cert, MetadataURL: *md, AcsURL: *acs, SloURL: *slo,
		AuthnNameIDFormat: saml.PersistentNameIDFormat}
	b, err := xml.Marshal(sp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, strings.NewReplacer(":", "_", "/", "_").Replace(base)+".xml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &goSP{sp: sp, metadata: file}
}

// loginAt signs alice in at the replica r (its address replacing the issuer's in the
// AuthnRequest's URL: the replicas share the issuer) and checks the Response strictly.
func (s *goSP) loginAt(t *testing.T, g adminGatehouse, issuer string) {
	t.Helper()
	if s.sp.IDPMetadata == nil {
		var md saml.EntityDescriptor
		if err := xml.Unmarshal([]byte(fetch(t, g.issuer+"/saml/idp/metadata")), &md); err != nil {
			t.Fatal(err)
		}
		s.sp.IDPMetadata = &md
	}
	ar, err := s.sp.MakeAuthenticationRequest(s.sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ar.Redirect("", s.sp)
	if err != nil {
		t.Fatal(err)
	}
	at, _ := url.Parse(g.issuer)
	u.Host = at.Host
	b := newSAMLBrowser(t)
	resp, body := b.do(http.MethodGet, u.String(), nil)
	if !strings.Contains(body, `name="password"`) {
		t.Fatalf("replica %s: no login form for the SP: %d at %s\n%s", g.issuer, resp.StatusCode, resp.Request.URL, tailText(body, 1500))
	}
	action, vals := brokertest.Form(t, body)
	vals.Set("username", g.user.Username)
	vals.Set("password", g.user.Password)
	_, body = b.do(http.MethodPost, g.issuer+action, vals)
	if strings.Contains(body, `value="allow"`) { // consent for the SP
		action, vals = brokertest.Form(t, body)
		vals.Set("decision", "allow")
		_, body = b.do(http.MethodPost, g.issuer+action, vals)
	}
	action, vals = brokertest.Form(t, body)
	raw, err := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	if err != nil || action != s.sp.AcsURL.String() {
		t.Fatalf("replica %s: no SAMLResponse form to the ACS (%q, %v)\n%s", g.issuer, action, err, tailText(body, 1500))
	}
	if _, err := s.sp.ParseXMLResponse(raw, []string{ar.ID}, s.sp.AcsURL); err != nil {
		var ire *saml.InvalidResponseError
		if errors.As(err, &ire) {
			err = ire.PrivateErr
		}
		t.Fatalf("replica %s: the SP refused the Response: %v", g.issuer, err)
	}
}

// refusedAt checks that replica g refuses the SP's AuthnRequest (an unknown SP).
func (s *goSP) refusedAt(t *testing.T, g adminGatehouse) {
	t.Helper()
	ar, err := s.sp.MakeAuthenticationRequest(s.sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ar.Redirect("", s.sp)
	if err != nil {
		t.Fatal(err)
	}
	at, _ := url.Parse(g.issuer)
	u.Host = at.Host
	resp, body := newSAMLBrowser(t).do(http.MethodGet, u.String(), nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not registered") {
		t.Fatalf("replica %s: a deleted SP's request: %d\n%s", g.issuer, resp.StatusCode, tailText(body, 1500))
	}
}

// TestAdminReplicasServiceProviders: on replicas sharing the peers PostgreSQL, a SAML SP
// created through replica A's `gatehouse sp create` signs users in at once on B (a strict
// crewjam SP checks the Response), an update through B counts on A, and deleted through B it
// is refused at once on A and B.
func TestAdminReplicasServiceProviders(t *testing.T) {
	dsn := haDatabase(t)
	rs := startAdminGatehouses(t, 2, func(string) []string {
		return []string{"storage:", "  type: postgres", "  config:", "    dsn: " + fmt.Sprintf("%q", dsn)}
	})
	a, b := rs[0], rs[1]
	sp := newGoSP(t, t.TempDir(), "http://127.0.0.1:1/shared-sp")
	a.mustCLI(t, a.issuer, "sp", "create", "--id", "shared", "--metadata", sp.metadata, "--attribute", "mail=email")
	sp.loginAt(t, b, a.issuer)
	sp.loginAt(t, a, a.issuer)
	out := b.mustCLI(t, a.issuer, "sp", "update", "shared", "--trusted", "--version", "1")
	if !strings.Contains(out, "version:") || !strings.Contains(out, "2") {
		t.Fatalf("update through B:\n%s", out)
	}
	if _, stderr, ok := a.cli(t, a.issuer, "sp", "update", "shared", "--name", "stale", "--version", "1"); ok ||
		!strings.Contains(stderr, "failed_precondition: service_provider.version") {
		t.Fatalf("a stale update through A was not refused: %s", stderr)
	}
	b.mustCLI(t, a.issuer, "sp", "delete", "shared")
	sp.refusedAt(t, a)
	sp.refusedAt(t, b)
}

// TestAdminCLIServiceProvidersBadInput: `gatehouse sp create` refuses invalid metadata, a
// duplicate entity ID and oversized fields with the code and the field named, and writes
// nothing: the list holds only the SP created first.
func TestAdminCLIServiceProvidersBadInput(t *testing.T) {
	g := startAdminGatehouses(t, 1, func(dir string) []string {
		return []string{"storage:", "  type: sqlite", "  config:", "    file: " + fmt.Sprintf("%q", filepath.Join(dir, "gh.db"))}
	})[0]
	dir := t.TempDir()
	good := newGoSP(t, dir, "http://127.0.0.1:1/good")
	g.mustCLI(t, g.issuer, "sp", "create", "--id", "good", "--metadata", good.metadata)
	broken := filepath.Join(dir, "broken.xml")
	if err := os.WriteFile(broken, []byte(`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:x"><SPSSODescriptor`), 0o600); err != nil {
		t.Fatal(err)
	}
	other := newGoSP(t, dir, "http://127.0.0.1:1/other")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"invalid metadata", []string{"--id", "bad", "--metadata", broken}, "invalid_argument: service_provider.metadata"},
		{"duplicate entity ID", []string{"--id", "bad", "--metadata", good.metadata}, "already_exists: service_provider.entity_id"},
		{"duplicate id", []string{"--id", "good", "--metadata", other.metadata}, "already_exists: service_provider.id"},
		{"oversized name", []string{"--id", "bad", "--metadata", other.metadata, "--name", strings.Repeat("n", 300)}, "invalid_argument: service_provider.name"},
		{"oversized entity ID", []string{"--id", "bad", "--entity-id", "urn:" + strings.Repeat("e", 1100), "--acs-url", "https://bad.example.com/acs"},
			"invalid_argument: service_provider.entity_id"},
		{"bad NameID format", []string{"--id", "bad", "--metadata", other.metadata, "--name-id-format", "x509"}, "invalid_argument: service_provider.name_id_format"},
		{"metadata_url not https", []string{"--id", "bad", "--metadata-url", "http://sp.example.com/md"}, "invalid_argument: service_provider.metadata_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, ok := g.cli(t, g.issuer, append([]string{"sp", "create"}, tt.args...)...)
			if ok || !strings.Contains(stderr, tt.want) {
				t.Fatalf("sp create %v: ok=%v, stderr %q, want %q", tt.args, ok, stderr, tt.want)
			}
		})
	}
	list := g.mustCLI(t, g.issuer, "sp", "list", "--json")
	if strings.Count(list, `"id":`) != 1 || !strings.Contains(list, `"good"`) {
		t.Fatalf("after refused creates the list is not just good:\n%s", list)
	}
}
