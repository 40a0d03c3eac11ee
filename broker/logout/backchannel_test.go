package logout_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/storage"
)

func logoutStore(t *testing.T, o *op) storage.LogoutStore {
	t.Helper()
	ls, ok := o.Store.(storage.LogoutStore)
	if !ok {
		t.Fatal("the store keeps no logout queue")
	}
	return ls
}

// TestBackChannelLogoutToEveryParticipant: alice signs in at bc-a, bc-b and plain in one SSO
// session (each recorded as a participant, each ID token carrying the session's sid); she
// signs out at plain; every participant with a back-channel URI gets exactly one logout
// token that passes every rule, with the sid of its ID tokens and its sub; plain gets none;
// bob's session is untouched. Discovery advertises it.
func TestBackChannelLogoutToEveryParticipant(t *testing.T) {
	o := newOP(t, brokertest.Options{})
	b := o.Browser()
	ids := map[string]string{}
	for _, c := range []string{"bc-a", "bc-b", "plain"} {
		ids[c] = o.login(b, c, "alice")
	}
	bob := o.Browser()
	o.login(bob, "bc-a", "bob")
	subA, sid := claimsOf(t, ids["bc-a"])
	for c, tok := range ids {
		if _, s := claimsOf(t, tok); s != sid {
			t.Fatalf("sid of %s's ID token = %q, want the session's %q", c, s, sid)
		}
	}
	ps, err := logoutStore(t, o).Participants(t.Context(), sid, o.Clock.Now())
	if err != nil || len(ps) != 3 {
		t.Fatalf("participants of the session = %+v, %v; want bc-a, bc-b, plain", ps, err)
	}

	p := b.Get(o.Issuer + "/logout?" + url.Values{"id_token_hint": {ids["plain"]}}.Encode())
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "You are signed out") {
		t.Fatalf("logout: %d\n%s", p.Status, p.Body)
	}
	if n := o.deliver(); n != 2 {
		t.Errorf("delivered %d, want 2 (bc-a, bc-b)", n)
	}
	for _, c := range []string{"bc-a", "bc-b"} {
		got, errs := o.rcv[c].got()
		if len(errs) > 0 {
			t.Errorf("%s saw rule violations: %v", c, errs)
		}
		if len(got) != 1 || got[0].Sid != sid || got[0].Aud != c {
			t.Fatalf("%s got %+v; want one token for sid %s", c, got, sid)
		}
		if c == "bc-a" && got[0].Sub != subA {
			t.Errorf("sub = %q, want the ID token's %q", got[0].Sub, subA)
		}
	}
	// Bob still signed in: nothing was sent for his session, and a second logout sends nothing.
	if p := b.Get(o.Issuer + "/logout"); !strings.Contains(p.Body, "nothing to sign out") {
		t.Errorf("second logout without a session: %d\n%s", p.Status, p.Body)
	}
	if n := o.deliver(); n != 0 {
		t.Errorf("second round delivered %d, want 0", n)
	}
	var doc map[string]any
	if err := getJSON(o.Issuer+"/.well-known/openid-configuration", &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"backchannel_logout_supported", "backchannel_logout_session_supported",
		"frontchannel_logout_supported", "frontchannel_logout_session_supported"} {
		if doc[k] != true {
			t.Errorf("discovery %s = %v, want true", k, doc[k])
		}
	}
}

// counter reads gatehouse_backchannel_logout_deliveries_total{client, outcome}.
func counter(t *testing.T, o *op, client, outcome string) float64 {
	t.Helper()
	mfs, err := o.Gatehouse.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_backchannel_logout_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "client") == client && label(m, "outcome") == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestBackChannelRetryBackoffAndMaxAge: a client answering 503 does not block the logout;
// its delivery is retried after 5 s, then 10 s (exponential backoff on the adjustable
// clock, nothing before), delivered once it recovers; a client that keeps failing past the
// maximum age (24 h) is abandoned, logged and counted.
func TestBackChannelRetryBackoffAndMaxAge(t *testing.T) {
	o := newOP(t, brokertest.Options{})
	a := o.rcv["bc-a"]
	a.Fail.Store(http.StatusServiceUnavailable)
	b := o.Browser()
	id := o.login(b, "bc-a", "alice")
	if p := b.Get(o.Issuer + "/logout?" + url.Values{"id_token_hint": {id}}.Encode()); p.Status != http.StatusOK {
		t.Fatalf("logout with a failing client: %d", p.Status)
	}
	steps := []struct {
		advance time.Duration
		claimed int
	}{
		{0, 1},               // first attempt fails
		{4 * time.Second, 0}, // backoff 5 s not over
		{time.Second, 1},     // second attempt fails
		{9 * time.Second, 0}, // backoff 10 s not over
	}
	for i, s := range steps {
		o.Clock.Advance(s.advance)
		if n := o.deliver(); n != s.claimed {
			t.Fatalf("step %d: claimed %d, want %d", i, n, s.claimed)
		}
	}
	a.Fail.Store(0)
	o.Clock.Advance(time.Second)
	if n := o.deliver(); n != 1 {
		t.Fatalf("after recovery: claimed %d, want 1", n)
	}
	if got, errs := a.got(); len(got) != 1 || len(errs) != 0 {
		t.Fatalf("accepted %d tokens (errors %v), want 1", len(got), errs)
	}
	if r, d := counter(t, o, "bc-a", "retry"), counter(t, o, "bc-a", "delivered"); r != 2 || d != 1 {
		t.Errorf("metrics retry=%v delivered=%v, want 2 and 1", r, d)
	}

	// Keeps failing: abandoned after the maximum age.
	a.Fail.Store(http.StatusInternalServerError)
	id = o.login(b, "bc-a", "alice")
	b.Get(o.Issuer + "/logout?" + url.Values{"id_token_hint": {id}}.Encode())
	o.deliver()
	for range 20 {
		o.Clock.Advance(2 * time.Hour)
		o.deliver()
	}
	if n := counter(t, o, "bc-a", "abandoned"); n != 1 {
		t.Errorf("abandoned = %v, want 1", n)
	}
	o.Clock.Advance(time.Hour)
	if n := o.deliver(); n != 0 {
		t.Errorf("an abandoned delivery was claimed again (%d)", n)
	}
}

// TestBackChannelTwoReplicasDeliverOnce: 120 deliveries queued; two replicas on one
// database each run 8 delivery loops at once: every session's token reaches the client
// exactly once (claims are atomic across replicas), and each passes every rule.
func TestBackChannelTwoReplicasDeliverOnce(t *testing.T) {
	dir := t.TempDir()
	o1 := newOP(t, brokertest.Options{Dir: dir})
	o2 := newOPWith(t, brokertest.Options{Dir: dir, Issuer: o1.Issuer}, o1.rcv)
	for _, r := range o1.rcv {
		r.issuer = o1.Issuer
	}
	const n = 120
	now := o1.Clock.Now().UTC()
	var ds []storage.LogoutDelivery
	for i := range n {
		ds = append(ds, storage.LogoutDelivery{ID: fmt.Sprintf("d%03d", i), ClientID: "bc-a", URI: o1.rcv["bc-a"].URL(),
			Subject: "alice", SessionID: fmt.Sprintf("s%03d", i), CreatedAt: now, NextAttempt: now})
	}
	if err := logoutStore(t, o1).EnqueueLogouts(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		o := o1
		if w%2 == 1 {
			o = o2
		}
		wg.Go(func() {
			for {
				k, err := o.Gatehouse.Server.DeliverLogouts(context.Background())
				if err != nil {
					errs <- err
					return
				}
				if k == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, violations := o1.rcv["bc-a"].got()
	if len(violations) > 0 {
		t.Errorf("rule violations: %v", violations[:min(3, len(violations))])
	}
	seen := map[string]int{}
	for _, c := range got {
		seen[c.Sid]++
	}
	for i := range n {
		if sid := fmt.Sprintf("s%03d", i); seen[sid] != 1 {
			t.Errorf("session %s delivered %d times, want once", sid, seen[sid])
		}
	}
	if len(got) != n {
		t.Errorf("%d tokens delivered, want %d", len(got), n)
	}
}
