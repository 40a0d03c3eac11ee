//go:build unix

package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// stashingConn is the local connector keeping upstream tokens as an OIDC upstream would: a
// 600-byte stash (refresh and ID token) at login, a new one at every refresh (a rotating
// upstream refresh token), so each refresh opens the grant's sealed connector data and seals
// the new one.
type stashingConn struct {
	connectors.PasswordConnector
	refresher connectors.RefreshConnector
	n         atomic.Int64
}

func (c *stashingConn) stash() []byte {
	return fmt.Appendf(nil, `{"refresh_token":"%s-%010d","id_token":"%s"}`, strings.Repeat("r", 289), c.n.Add(1), strings.Repeat("i", 260))
}

func (c *stashingConn) Login(ctx context.Context, s connectors.Scopes, user, pass string) (connectors.Upstream, error) {
	up, err := c.PasswordConnector.Login(ctx, s, user, pass)
	up.Stash = c.stash()
	return up, err
}

func (c *stashingConn) Refresh(ctx context.Context, s connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	up, err := c.refresher.Refresh(ctx, s, prev)
	up.Stash = c.stash()
	return up, err
}

// BenchmarkRefreshSealing is issue 23's performance line: the whole refresh grant (POST
// /token in-process: client auth, grant read, upstream refresh, grant update, two ES256
// signatures, rotation) with an upstream stash, without and with secrets.keys, in one run.
// Sealing may cost at most 0.02 ms (20000 ns) of CPU per refresh: compare cpu-ns/op of the
// two sub-benchmarks (ES256 keeps the signatures, which dominate, cheap and steady).
//
//	go test -run '^$' -bench RefreshSealing -count 5 ./broker/
func BenchmarkRefreshSealing(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		name := "clear"
		var sl storage.Sealer
		if sealed {
			name, sl = "sealed", storagetest.TestKeyring(b, "k1")
		}
		b.Run(name, func(b *testing.B) {
			e := newEnvOpts(b, envOpts{alg: "ES256", sealer: sl, connectors: func(cs []connset.Slot) []connset.Slot {
				c := &stashingConn{PasswordConnector: cs[0].Conn.(connectors.PasswordConnector), refresher: cs[0].Conn.(connectors.RefreshConnector)}
				return []connset.Slot{{Info: cs[0].Info, Conn: c}}
			}})
			rt := e.benchLogin().RefreshToken
			if sealed { // the stash is sealed at rest
				checkStashSealed(b, e)
			}
			form := url.Values{"grant_type": {"refresh_token"}}
			done := measureCPU(b)
			for range b.N {
				form.Set("refresh_token", rt)
				rec := e.call(benchClientPost("/token", form))
				if rec.Code != http.StatusOK {
					b.Fatalf("refresh: %d %s", rec.Code, rec.Body.String())
				}
				var t benchTokens
				if err := json.Unmarshal(rec.Body.Bytes(), &t); err != nil || t.RefreshToken == "" {
					b.Fatalf("refresh response %s: %v", rec.Body.String(), err)
				}
				rt = t.RefreshToken
			}
			done()
		})
	}
}

// checkStashSealed fails unless every grant's raw auth column has its connector data sealed.
func checkStashSealed(b *testing.B, e *env) {
	b.Helper()
	raw, ok := e.store.(storage.RawColumns)
	if !ok {
		b.Fatalf("%T cannot show raw columns", e.store)
	}
	rows, err := raw.RawPage(context.Background(), storage.SealedColumn{Table: "grants", Column: "auth", Key: "id", AuthJSON: true}, "", 10)
	if err != nil || len(rows) == 0 {
		b.Fatalf("raw grants = %v, %v", rows, err)
	}
	for _, r := range rows {
		if strings.Contains(string(r.Value), "rrrrrrrr") {
			b.Fatalf("grant %s holds the upstream token in clear", r.Key)
		}
	}
}
