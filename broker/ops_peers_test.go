//go:build peers

package broker_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestPromtoolChecksScrape runs Debian's `promtool check metrics` (scripts/install-peers.sh)
// over the admin listener's scrape after a scripted run: names, help, types and label use
// must pass the Prometheus linter. A missing promtool fails the test.
func TestPromtoolChecksScrape(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed (scripts/install-peers.sh installs Debian's prometheus): %v", err)
	}
	run := scriptedRun(t)
	_, body := scrape(t, run.admin.URL)
	cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
	if !strings.Contains(body, "gatehouse_logins_total") {
		t.Fatal("the scrape has no gatehouse metrics")
	}
	t.Logf("promtool check metrics: ok (%d bytes scraped)\n%s", len(body), out.String())
}
