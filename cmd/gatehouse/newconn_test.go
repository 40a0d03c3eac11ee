package main

import (
	"strings"
	"testing"
)

// TestCheckConfigNewConnectors runs check-config over gitea, bitbucket and google (Workspace
// groups) blocks: the types are registered, their keys decode strictly, and their Validate
// problems are reported with file:line and key path (issue 20.4).
func TestCheckConfigNewConnectors(t *testing.T) {
	const base = `issuer: http://127.0.0.1:5556
storage: {type: sqlite, config: {file: gh.db}}
connectors:
  - type: %s
    id: up
    config:
      client_id: c
      client_secret: s
%s
clients:
  - id: app
    secret: s3cret
    redirect_uris: ["https://app.example.com/cb"]
`
	tests := []struct {
		name, typ, extra, want string
	}{
		{"gitea", "gitea", "      base_url: https://codeberg.org\n      orgs: [{name: acme, teams: [ops]}]\n      trust_email: true", ""},
		{"gitea needs base_url", "gitea", "      use_login_as_id: true", "cfg.yaml:6: connectors[0].config: base_url: required"},
		{"gitea plain http", "gitea", "      base_url: http://gitea.example.com", "must use https"},
		{"gitea unknown key", "gitea", "      base_url: https://g.example\n      orgs: [{nme: acme}]", `cfg.yaml:10: connectors[0].config.orgs[0].nme: unknown key "nme"`},
		{"bitbucket", "bitbucket", "      workspaces: [acme]", ""},
		{"bitbucket bad slug", "bitbucket", "      workspaces: [acme/repo]", "workspaces[0]"},
		{"google groups", "google", "      service_account_file: /etc/gatehouse/sa.json\n      admin_email: admin@acme.test\n      groups: [eng@acme.test]", ""},
		{"google groups need a service account", "google", "      groups: [eng@acme.test]", "groups: needs service_account_file"},
		{"google admin without key", "google", "      admin_email: admin@acme.test", "service_account_file: required with admin_email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(strings.Replace(base, "%s", tt.typ, 1), "%s", tt.extra, 1)
			p := writeFile(t, t.TempDir(), "cfg.yaml", body)
			out, errs, err := runCmd("check-config", p)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("check-config: %v\n%s%s\nconfig:\n%s", err, out, errs, body)
				}
				return
			}
			if err == nil || !strings.Contains(errs, tt.want) {
				t.Fatalf("check-config = %v\n%s\nwant %q\nconfig:\n%s", err, errs, tt.want, body)
			}
		})
	}
}
