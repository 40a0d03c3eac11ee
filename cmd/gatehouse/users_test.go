package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
	"github.com/gatehouse-id/gatehouse/internal/loadgen"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// serveConfig writes a configuration with the local connector, the load-test client and the
// given users (all with ltPassword) and returns its path.
func serveConfig(t *testing.T, dir string, port int, users ...string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(ltPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: http://127.0.0.1:%d\nweb:\n  http: 127.0.0.1:%d\nstorage:\n  type: sqlite\n  config:\n    file: %s\n", port, port, filepath.Join(dir, "gh.db"))
	fmt.Fprintf(&b, "logging:\n  level: error\nclients:\n  - id: %s\n    name: App\n    secret: %s\n    redirect_uris: [%s]\n", ltClientID, ltSecret, ltRedirect)
	// cost 4 like the users' hashes: no rehash at login, fast under -race on a busy machine
	b.WriteString("connectors:\n  - type: local\n    id: local\n    name: Local accounts\n    config: {cost: 4}\nusers:\n")
	for _, u := range users {
		fmt.Fprintf(&b, "  - username: %s\n    email: %s@example.com\n    email_verified: true\n    password_hash: '%s'\n", u, u, hash)
	}
	file := filepath.Join(dir, fmt.Sprintf("gatehouse-%d.yaml", len(users)))
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// serveConfigFile runs `gatehouse serve --config file` until the returned stop is called.
func serveConfigFile(t *testing.T, file string, port int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--config", file}, func(string) string { return "" }, strings.NewReader(""), new(bytes.Buffer), &stderr)
	}()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/.well-known/openid-configuration", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatal("serve did not answer in time")
		}
	}
}

// loginAs signs in through the password form and consent and returns the tokens.
func loginAs(t *testing.T, port int, user string) (loadgen.Tokens, error) {
	t.Helper()
	g, err := loadgen.New(t.Context(), loadgen.Config{
		Issuer: fmt.Sprintf("http://127.0.0.1:%d", port), ClientID: ltClientID, ClientSecret: ltSecret, RedirectURI: ltRedirect,
		Username: user, Password: ltPassword, Requests: 1, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	return g.Login(t.Context())
}

// refresh presents a refresh token and returns the status and OAuth error code.
func refresh(t *testing.T, port int, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/token", port),
		strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(ltClientID, ltSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	code := ""
	if i := strings.Index(body.String(), `"error":"`); i >= 0 {
		code, _, _ = strings.Cut(body.String()[i+len(`"error":"`):], `"`)
	}
	return resp.StatusCode, code
}

// TestRemovedConfigUsersCannotSignIn: users that leave `users:` (and the default
// configuration's generated admin, once a configuration file is used) are deleted at start
// with their tokens; users created otherwise stay.
// Attack (issue 12 item 5): bob is removed from `users:` after he left the company, Gatehouse
// restarts, and bob still signs in with his password and keeps refreshing his tokens; the
// generated default admin, with its known password, survives the switch to a real config.
func TestRemovedConfigUsersCannotSignIn(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "gh.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bootstrapAdmin(t.Context(), st); err != nil { // as `gatehouse serve` without a config did
		t.Fatal(err)
	}
	if err := st.CreateLocalUser(t.Context(), storage.LocalUser{Username: "carol", PasswordHash: "x"}); err != nil { // not from config
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	stop := serveConfigFile(t, serveConfig(t, dir, port, "alice", "bob"), port)
	bob, err := loginAs(t, port, "bob")
	if err != nil || bob.RefreshToken == "" {
		t.Fatalf("bob's login before his removal: %+v, %v", bob, err)
	}
	stop()

	stop = serveConfigFile(t, serveConfig(t, dir, port, "alice"), port)
	if _, err := loginAs(t, port, "bob"); err == nil {
		t.Error("bob signed in after he was removed from users:")
	}
	if status, code := refresh(t, port, bob.RefreshToken); status != http.StatusBadRequest || code != "invalid_grant" {
		t.Errorf("bob's refresh token after his removal: %d %s, want 400 invalid_grant", status, code)
	}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/userinfo", port), nil)
	req.Header.Set("Authorization", "Bearer "+bob.AccessToken)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bob's access token at userinfo after his removal: %d, want 401", resp.StatusCode)
	}
	if _, err := loginAs(t, port, "alice"); err != nil {
		t.Errorf("alice, still configured: %v", err)
	}
	stop()

	st, err = sqlite.Open(t.Context(), filepath.Join(dir, "gh.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, want := range map[string]error{"alice": nil, "carol": nil, "bob": storage.ErrNotFound, "admin": storage.ErrNotFound} {
		if _, err := st.GetLocalUser(t.Context(), name); !errors.Is(err, want) && err != want {
			t.Errorf("user %s: %v, want %v", name, err, want)
		}
	}
	link, err := st.GetUserLink(t.Context(), "local", "bob")
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("bob's link survived: %+v, %v", link, err)
	}
}

// TestRemoveStaleUsersWithoutRemover: a backend that cannot delete a user's data refuses the
// start, naming the user, and deletes nothing (not even the user row).
func TestRemoveStaleUsersWithoutRemover(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gh.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := assembly.ProvisionUsers(t.Context(), st, []config.User{{Username: "bob", PasswordHash: "x"}}, audit.Nop{}); err != nil {
		t.Fatal(err)
	}
	noRemover := struct{ storage.Storage }{st} // hides storage.UserRemover
	err = removeStaleUsers(t.Context(), noRemover, map[string]bool{}, []string{"local"}, audit.Nop{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "user bob left the configuration") || !strings.Contains(err.Error(), "cannot remove users") {
		t.Fatalf("removeStaleUsers without a UserRemover: %v", err)
	}
	if _, err := st.GetLocalUser(t.Context(), "bob"); err != nil {
		t.Errorf("bob was deleted although his data could not be: %v", err)
	}
}
