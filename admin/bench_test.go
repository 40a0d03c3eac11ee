package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"connectrpc.com/connect"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/config"
)

// BenchmarkTokenEndpoint compares client_credentials at /token for a configured client and
// for a client created through the API (read from storage on every lookup).
func BenchmarkTokenEndpoint(b *testing.B) {
	e := newEnv(b, "")
	created, err := e.clients(e.clientToken(b, opsID, opsSecret, config.AdminScope), false).CreateClient(context.Background(),
		connect.NewRequest(&adminv1.CreateClientRequest{Client: &adminv1.Client{Id: "api-robot", GrantTypes: []string{"client_credentials"}, Scopes: []string{"reports"}}}))
	if err != nil {
		b.Fatal(err)
	}
	// Alternated rounds, so that a busy machine or a growing database weighs on both alike.
	clients := []struct{ name, id, secret string }{
		{"config", robotID, robotSecret},
		{"api", "api-robot", created.Msg.GetClientSecret()},
	}
	for round := range 6 {
		c := clients[round%2]
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, status := e.token(b, c.id, c.secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"reports"}}); status != http.StatusOK {
					b.Fatal(status)
				}
			}
		})
	}
}
