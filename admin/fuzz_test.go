package admin_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzCreateClient posts arbitrary JSON bodies to CreateClient: the API never fails with a
// server error, and a request it refuses stores nothing (nothing half-written).
func FuzzCreateClient(f *testing.F) {
	for _, seed := range []string{
		`{"client":{"id":"app","redirectUris":["https://a.example/cb"]}}`,
		`{"client":{"id":"pub","public":true,"redirectUris":["http://127.0.0.1/cb"]}}`,
		`{"client":{"id":"cc","grantTypes":["client_credentials"],"scopes":["read"],"audiences":["api"]}}`,
		`{"client":{"id":"x","redirectUris":["/cb","https://a.example/#f"]}}`,
		`{"client":{"id":"saml:x"}}`, `{"client":null}`, `{}`, `[]`, `{"client":{"id":1}}`,
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f, "")
	tok := e.clientToken(f, opsID, opsSecret, config.AdminScope)
	cs := e.gh.Store.(storage.ClientStore)
	f.Fuzz(func(t *testing.T, body []byte) {
		before, err := cs.ListClients(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, e.admin.URL+"/gatehouse.admin.v1.ClientService/CreateClient", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.admin.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() //nolint:errcheck // test
		after, err := cs.ListClients(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case resp.StatusCode >= 500:
			t.Fatalf("status %d for %q", resp.StatusCode, body)
		case resp.StatusCode != http.StatusOK && len(after) != len(before):
			t.Fatalf("refused (%d) but stored a client: %q", resp.StatusCode, body)
		case resp.StatusCode == http.StatusOK && len(after) != len(before)+1:
			t.Fatalf("accepted but stored %d clients (was %d): %q", len(after), len(before), body)
		}
	})
}

// FuzzAuthorization sends arbitrary Authorization headers: only the admin client's token is
// let through; nothing else gets past authentication or fails with a server error.
func FuzzAuthorization(f *testing.F) {
	e := newEnv(f, "")
	tok := e.clientToken(f, opsID, opsSecret, config.AdminScope)
	for _, seed := range []string{"", "Bearer", "Bearer ", "bearer x", "Basic b3BzOnNlY3JldA==", "Bearer " + tok + "x", "Bearer " + tok[:len(tok)/2], "Bearer  " + tok + " extra"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		req, err := http.NewRequest(http.MethodPost, e.admin.URL+"/gatehouse.admin.v1.ClientService/ListClients", bytes.NewReader([]byte("{}")))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header["Authorization"] = []string{auth}
		resp, err := e.admin.Client().Do(req)
		if err != nil {
			t.Skip("not a valid header value for the client") // net/http refuses it before sending
		}
		resp.Body.Close() //nolint:errcheck // test
		scheme, raw, _ := strings.Cut(auth, " ")
		valid := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(raw) == tok
		switch {
		case valid && resp.StatusCode != http.StatusOK:
			t.Fatalf("Authorization %q (the admin token): status %d", auth, resp.StatusCode)
		case !valid && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden:
			t.Fatalf("Authorization %q: status %d, want 401 or 403", auth, resp.StatusCode)
		}
	})
}
