package loadgen

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
)

// TestForwardAuthScenario runs the forwardauth scenario against a Gatehouse whose issuer and
// app have names under .localhost: one login per worker, then signed-in checks that all
// answer 200, followed by the signature reference row.
func TestForwardAuthScenario(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	issuer := "http://login.corp.localhost:" + port
	brokertest.New(t, brokertest.Options{Server: srv, Issuer: issuer, Config: func(c *config.Config) {
		c.Web.TrustedProxies = []string{"127.0.0.1/32"}
		c.ForwardAuth.CookieDomain = "corp.localhost"
		c.Users = []config.User{{Username: "bob", Groups: []string{"ops"}, PasswordHash: string(hash)}}
		c.ProtectedApps = []config.ProtectedApp{{ID: "grafana", Hosts: []string{"grafana.corp.localhost:8080"}, Require: config.Requirement{Groups: []string{"ops"}}}}
	}})
	g, err := New(context.Background(), Config{Issuer: issuer, AppURL: "http://grafana.corp.localhost:8080/d/x?y=1",
		Username: "bob", Password: "pw", Concurrency: 2, Requests: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	res, err := g.RunAll(context.Background(), ForwardAuth)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Scenario != ForwardAuth || res[0].Requests != 40 || res[0].Errors != 0 || res[0].SignCPU <= 0 {
		t.Fatalf("results %+v: want 40 checks and the ES256 floor", res)
	}
	if ref := res[1]; ref.Errors != 0 || ref.CPUPerRequest <= 0 || ref.Requests != signatureRounds {
		t.Fatalf("reference %+v", ref)
	}
	// A wrong password is a setup error, not load.
	bad, err := New(context.Background(), Config{Issuer: issuer, AppURL: "http://grafana.corp.localhost:8080/", Username: "bob", Password: "no", Requests: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Run(context.Background(), ForwardAuth); err == nil {
		t.Fatal("a failed forward-auth login was not reported")
	}
}
