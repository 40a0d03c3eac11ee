package main

import (
	"strings"
	"testing"
)

// TestCheckConfigWarnsAboutCheapHashes: a configured user whose bcrypt hash is cheaper than
// the local connector's cost is reported by check-config with file:line (issue 25.6: until
// the user logs in and the hash is redone, its cost is visible in login timing). The config
// stays valid.
func TestCheckConfigWarnsAboutCheapHashes(t *testing.T) {
	const cfg = `issuer: http://127.0.0.1:5556
storage: {type: sqlite, config: {file: gh.db}}
connectors:
  - type: local
    id: local
    config: {cost: 10}
users:
  - username: old
    password_hash: "$2a$04$ovKDPwptVeaC/gpWNkV1fOPwe4dShKKpJjg.An/KxVfhJUJz6Br1m"
  - username: current
    password_hash: "$2a$10$7kMULXa6E2N9xSimDsIro.H1AW1TX69/z8PEuvaZobweX56gMoWg6"
`
	p := writeFile(t, t.TempDir(), "cfg.yaml", cfg)
	out, errs, err := runCmd("check-config", p)
	if err != nil {
		t.Fatalf("check-config: %v\n%s%s", err, out, errs)
	}
	if !strings.Contains(errs, "cfg.yaml:9: users[0].password_hash: warning: bcrypt cost 4 is below the local connector's cost 10") {
		t.Errorf("no warning about users[0]:\n%s", errs)
	}
	if strings.Contains(errs, "users[1]") {
		t.Errorf("warning about a hash at the configured cost:\n%s", errs)
	}
}

// TestHashPasswordCost: hash-password makes hashes at the local connector's cost.
func TestHashPasswordCost(t *testing.T) {
	var out, errb strings.Builder
	if err := run(t.Context(), []string{"hash-password", "-cost", "5"}, func(string) string { return "" }, strings.NewReader("pw\n"), &out, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	if !strings.HasPrefix(out.String(), "$2a$05$") {
		t.Errorf("hash %q, want cost 5", out.String())
	}
	if err := run(t.Context(), []string{"hash-password", "-cost", "2"}, func(string) string { return "" }, strings.NewReader("pw\n"), &out, &errb); err == nil {
		t.Error("cost 2 accepted")
	}
}
