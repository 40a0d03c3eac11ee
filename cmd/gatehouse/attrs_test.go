package main

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
)

// TestConnectorDepsCarryRuleAttributes proves the wiring of issue 20.1: serve opens each
// connector with the attributes its own claims rules read (the LDAP connector then requests
// them); a connector whose rules read none gets none.
func TestConnectorDepsCarryRuleAttributes(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "gatehouse.yaml", `issuer: http://127.0.0.1:5556
storage: {type: sqlite, config: {file: gh.db}}
connectors:
  - type: ldap
    id: corp
    config:
      host: dc1.example.test:636
      bind_dn: broker@corp.example.test
      bind_password: s3cret
      preset: active_directory
      user_search: {base_dn: "DC=corp,DC=example,DC=test", attributes: [department]}
    claims:
      map:
        employee: attrs.employeeNumber[0]
        cost_center: 'attrs["costCenter"][0]'
  - type: local
    id: local
`)
	getenv := func(string) string { return "" }
	cfg, err := loadConfig(path, getenv)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := assembly.DecodeConnectors(cfg, path, getenv, newRegistry(nil))
	if err != nil {
		t.Fatalf("a UPN bind_dn with preset: active_directory is valid: %v", err)
	}
	norm, err := claims.New(cfg, claims.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"corp": {"costCenter", "employeeNumber"}, "local": nil}
	for _, d := range decoded {
		deps := assembly.ConnectorDeps(cfg.Issuer, d.Info, norm, slog.New(slog.DiscardHandler), nil, nil)
		if !slices.Equal(deps.Attributes, want[d.Info.ID]) {
			t.Errorf("%s: Deps.Attributes = %q, want %q", d.Info.ID, deps.Attributes, want[d.Info.ID])
		}
	}
}

// TestExplainHintsAndUnknownVariables proves through the CLI that `claims explain` hints at
// an attribute the upstream identity lacks (issue 20.1) and that check-config lists the
// valid variables when a rule names an unknown one (issue 20.6).
func TestExplainHintsAndUnknownVariables(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "good.yaml", claimsTestConfig)
	input := writeFile(t, dir, "up.json", `{"subject": "u1", "groups": ["staff"], "attrs": {"displayName": ["Ann"]}}`)
	out, errs, err := runCmd("claims", "explain", "--config", cfgPath, "--connector", "corp", "--input", input)
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, errs)
	}
	if !strings.Contains(out, "hint: attrs.department is not in the upstream identity") {
		t.Errorf("explain output has no hint for attrs.department:\n%s", out)
	}
	bad := writeFile(t, dir, "bad.yaml", strings.Replace(claimsTestConfig, `department: "attrs.department[0]"`, `department: "attr.department[0]"`, 1))
	_, errs, err = runCmd("check-config", bad)
	if err == nil || !strings.Contains(errs, `"attr" is not a variable here, the variables are: acr, amr, attrs,`) {
		t.Errorf("check-config = %v, stderr:\n%s", err, errs)
	}
}

// TestCheckConfigRefusesPasswordAttributes proves that check-config refuses, at the rule's
// file:line, a claims rule that reads a password attribute from an LDAP directory (which the
// connector never requests), rather than the claim silently missing at every login.
func TestCheckConfigRefusesPasswordAttributes(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "gatehouse.yaml", `issuer: http://127.0.0.1:5556
storage: {type: sqlite, config: {file: gh.db}}
connectors:
  - type: ldap
    id: corp
    config:
      host: dc1.example.test:636
      bind_dn: cn=broker,dc=example,dc=test
      bind_password: s3cret
      user_search: {base_dn: "dc=example,dc=test"}
    claims:
      map:
        employee: attrs.employeeNumber[0]
        pw: 'attrs["userPassword"][0]'
`)
	_, errs, err := runCmd("check-config", path)
	if err == nil || !strings.Contains(errs, `gatehouse.yaml:14: connectors[0].claims.map.pw: reads attrs.userPassword, which ldap connector "corp" never reads`) {
		t.Errorf("check-config = %v, stderr:\n%s", err, errs)
	}
	if strings.Contains(errs, "employee") {
		t.Errorf("an ordinary attribute was refused:\n%s", errs)
	}
}
