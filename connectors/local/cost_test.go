package local

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
)

// rehashUsers is a memUsers that stores rehashed passwords (compare-and-swap, as
// storage.LocalPasswordUpdater does).
type rehashUsers struct {
	memUsers
	calls int
	fail  error
}

func (r *rehashUsers) ReplacePasswordHash(_ context.Context, username, oldHash, newHash string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		return r.fail
	}
	u, ok := r.users[username]
	if !ok || u.PasswordHash != oldHash {
		return errors.New("conflict")
	}
	u.PasswordHash = newHash
	r.users[username] = u
	return nil
}

func (r *rehashUsers) hash(username string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.users[username].PasswordHash
}

func costOf(t *testing.T, h string) int {
	t.Helper()
	c, err := bcrypt.Cost([]byte(h))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLoginTimingAcrossCosts measures logins with the connector at cost 7: an unknown user,
// a wrong password for a user whose hash has the configured cost, and a wrong password for a
// user whose stored hash has cost 4 (8 times cheaper). Low costs keep it fast under -race.
// Attack (issue 25.6): the dummy hash had a fixed cost while stored hashes may have any, so
// an attacker timing failed logins told which usernames exist (cost-5 user 2 ms, unknown user
// 60 ms). Every failure must now cost at least what a configured-cost comparison costs.
func TestLoginTimingAcrossCosts(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test runs bcrypt comparisons")
	}
	const cost = 7
	users := &memUsers{users: map[string]User{
		"alice": {Username: "alice", PasswordHash: mustHash(t, "secret", cost)},
		"old":   {Username: "old", PasswordHash: mustHash(t, "secret", bcrypt.MinCost)},
	}}
	c := open(t, users, cost)
	ctx := t.Context()
	measure := func(user string) time.Duration {
		start := time.Now()
		if _, err := c.Login(ctx, connectors.Scopes{}, user, "nope"); !errors.Is(err, connectors.ErrBadCredentials) {
			t.Fatalf("%s: %v", user, err)
		}
		return time.Since(start)
	}
	c.dummy() // computed at Open in the background; not part of the measurement
	// Per round the three logins run back to back, so a busy machine slows them alike: the
	// median of the per-round ratios is what the test asserts, not absolute times.
	var known, weak []float64
	for range 9 {
		u := measure("nobody")
		known = append(known, float64(measure("alice"))/float64(u))
		weak = append(weak, float64(measure("old"))/float64(u))
	}
	median := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	k, w := median(known), median(weak)
	t.Logf("median ratio to an unknown user over 9 rounds: known at cost %d %.2f, known at cost 4 %.2f", cost, k, w)
	for _, x := range []struct {
		what string
		r    float64
	}{{"known user at the configured cost", k}, {"known user with a cost-4 hash", w}} {
		if x.r < 0.5 || x.r > 2 {
			t.Errorf("%s: median time ratio to an unknown user %.2f, outside [0.5, 2]", x.what, x.r)
		}
	}
}

// TestRehashAtLogin: a successful login stores the password again at the configured cost
// (issue 25.6), whether the stored hash is cheaper or dearer; failures and the configured
// cost itself leave the hash alone, and a failing store does not fail the login.
func TestRehashAtLogin(t *testing.T) {
	const cost = 6
	users := &rehashUsers{memUsers: memUsers{users: map[string]User{
		"weak":   {Username: "weak", PasswordHash: mustHash(t, "pw", bcrypt.MinCost)},
		"strong": {Username: "strong", PasswordHash: mustHash(t, "pw", 7)},
		"same":   {Username: "same", PasswordHash: mustHash(t, "pw", cost)},
	}}}
	c := open(t, users, cost)
	ctx := t.Context()
	if _, err := c.Login(ctx, connectors.Scopes{}, "weak", "wrong"); !errors.Is(err, connectors.ErrBadCredentials) {
		t.Fatal(err)
	}
	if users.calls != 0 {
		t.Fatal("a failed login rehashed")
	}
	for _, name := range []string{"weak", "strong", "same"} {
		if _, err := c.Login(ctx, connectors.Scopes{}, name, "pw"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h := users.hash(name)
		if got := costOf(t, h); got != cost {
			t.Errorf("%s: stored cost %d after login, want %d", name, got, cost)
		}
		if bcrypt.CompareHashAndPassword([]byte(h), []byte("pw")) != nil {
			t.Errorf("%s: the new hash does not verify the password", name)
		}
	}
	if users.calls != 2 {
		t.Errorf("%d rehashes, want 2 (weak and strong)", users.calls)
	}
	users.fail = errors.New("database down")
	users.users["weak2"] = User{Username: "weak2", PasswordHash: mustHash(t, "pw", bcrypt.MinCost)}
	if _, err := c.Login(ctx, connectors.Scopes{}, "weak2", "pw"); err != nil {
		t.Errorf("login failed because the rehash could not be stored: %v", err)
	}
}

// TestCostKey decodes cost from YAML with the strict decoder and validates its range.
func TestCostKey(t *testing.T) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("cost: 12\nprompt: Email\n"), &node); err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := config.DecodeStrict(node.Content[0], &c, "gatehouse.yaml", "connectors[0].config", func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if c.Cost != 12 || c.EffectiveCost() != 12 || (&Config{}).EffectiveCost() != DefaultCost {
		t.Errorf("cost = %d, effective %d", c.Cost, c.EffectiveCost())
	}
	c.Cost = 3
	if err := c.Validate(); err == nil {
		t.Error("cost 3 accepted")
	}
}
