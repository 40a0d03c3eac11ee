package broker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/connectors"
)

// redeemCounter is a redirect connector whose Finish stands for redeeming the upstream's
// single-use code: it counts the redemptions and takes a while, as a network round trip
// does, so that concurrent callbacks overlap.
type redeemCounter struct {
	info     connectors.Info
	finishes atomic.Int64
}

func (u *redeemCounter) Info() connectors.Info { return u.info }
func (u *redeemCounter) Close() error          { return nil }

func (u *redeemCounter) Begin(_ context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	return connectors.Step{URL: "https://upstream.test/auth?state=" + url.QueryEscape(req.State), Stash: []byte("pkce-and-nonce")}, nil
}

func (u *redeemCounter) Finish(_ context.Context, req connectors.FinishRequest, _ *http.Request) (connectors.Upstream, error) {
	u.finishes.Add(1)
	time.Sleep(50 * time.Millisecond)
	if string(req.Stash) != "pkce-and-nonce" {
		return connectors.Upstream{}, connectors.ErrBadCredentials
	}
	return connectors.Upstream{Subject: "alice", Attrs: map[string][]string{"preferred_username": {"alice"}}}, nil
}

var _ connectors.RedirectConnector = (*redeemCounter)(nil)

// TestCallbackDeliveredTwice (issue 13.8, found by the chaos test e2e/TestHAChaos): the
// upstream's redirect back, delivered several times at once (a double navigation, a load
// balancer retrying on another replica), redeems the upstream's single-use code once. Before
// the fix every delivery redeemed it; a real upstream (oidc-provider, per RFC 6749 4.1.2)
// then revokes what the first redemption got, and the family issued from the winning
// delivery died at its first refresh. Exactly one delivery may go on; the others are refused
// (the "already finished" page, or the expired one when the login was already taken before
// they looked).
func TestCallbackDeliveredTwice(t *testing.T) {
	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("%d deliveries", n), func(t *testing.T) {
			up := &redeemCounter{info: connectors.Info{ID: "upstream", Type: "test", Name: "Upstream"}}
			e := newEnvClaims(t, "RS256", nil, func(d *broker.Deps) {
				d.Connectors = append(d.Connectors, connset.Slot{Info: up.Info(), Conn: up})
			})
			b := e.browser()
			u := e.authURLFor(url.Values{"connector_id": {"upstream"}})
			_, at := b.follow(e, b.get(u), u)
			if !strings.HasPrefix(at, "https://upstream.test/auth?") {
				t.Fatalf("the login did not go to the upstream: %s", at)
			}
			state := strings.TrimPrefix(at, "https://upstream.test/auth?state=")
			callback := e.issuer + "/callback/upstream?code=c&state=" + state
			var (
				wg       sync.WaitGroup
				statuses = make([]int, n)
			)
			for i := range n {
				wg.Go(func() {
					resp, err := b.c.Get(callback)
					if err != nil {
						t.Errorf("callback %d: %v", i, err)
						return
					}
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				})
			}
			wg.Wait()
			if got := up.finishes.Load(); got != 1 {
				t.Errorf("%d deliveries of one callback redeemed the upstream code %d times, want once (statuses %v)", n, got, statuses)
			}
			went, refused := 0, 0
			for _, s := range statuses {
				switch s {
				case http.StatusSeeOther, http.StatusFound:
					went++
				case http.StatusConflict, http.StatusBadRequest: // already finished, or no login in progress any more
					refused++
				}
			}
			if went != 1 || refused != n-1 {
				t.Errorf("statuses %v: want one redirect onwards and %d refusals (409 or 400)", statuses, n-1)
			}
		})
	}
}
