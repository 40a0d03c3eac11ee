package broker_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker"
)

// refreshEnv signs alice in with offline_access and returns the env and her tokens.
func refreshEnv(t *testing.T, grace time.Duration) (*env, map[string]any) {
	t.Helper()
	e := newEnvClaims(t, "ES256", nil, func(d *broker.Deps) { d.Lifetimes.ReuseGrace = grace })
	b := e.browser()
	code, verifier := e.codeFor(b, "openid offline_access")
	errCode, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
	if errCode != "" {
		t.Fatalf("code exchange: %s", errCode)
	}
	return e, tok
}

// refresh posts a refresh_token grant and returns the error code ("" on success), the
// response, and the HTTP response headers.
func refresh(t *testing.T, e *env, rt string, extra ...string) (string, map[string]any, http.Header) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(confidentialID, confidentialSecret)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response: %v", err)
	}
	if resp.StatusCode == http.StatusOK {
		return "", body, resp.Header
	}
	code, _ := body["error"].(string)
	return code, body, resp.Header
}

// TestRefreshFailureKeepsTheToken: a refresh that fails before it can complete (the upstream
// is down, or the client asked for a scope it was not granted) leaves the client's refresh
// token usable (issue 13.1). Before the fix the token was rotated first: the retry got
// invalid_grant "already used" and the whole family was revoked as token reuse.
func TestRefreshFailureKeepsTheToken(t *testing.T) {
	e, tok := refreshEnv(t, 0)
	rt := tok["refresh_token"].(string)

	e.upstreamDown.Store(true)
	code, _, h := refresh(t, e, rt)
	if code != "temporarily_unavailable" || h.Get("Retry-After") == "" {
		t.Fatalf("refresh with the upstream down: %q (Retry-After %q), want temporarily_unavailable with Retry-After", code, h.Get("Retry-After"))
	}
	e.upstreamDown.Store(false)

	if code, _, _ := refresh(t, e, rt, "scope", "openid admin"); code != "invalid_scope" {
		t.Fatalf("refresh with a scope beyond the grant: %q, want invalid_scope", code)
	}
	code, next, _ := refresh(t, e, rt)
	if code != "" {
		t.Fatalf("retry with the same token after the outage and the invalid_scope: %q, want success", code)
	}
	if code, _, _ := refresh(t, e, next["refresh_token"].(string)); code != "" {
		t.Fatalf("the family does not work after the outage: %q", code)
	}
}

// TestRefreshLostResponse: the rotation committed but the response never reached the client
// (the replica died, the connection dropped). Within the reuse grace a retry with the
// previous token whose successor was never used gets a fresh pair and the unused successor
// is revoked; reuse after the successor was used, or after the grace, still revokes the
// family (issue 13.1).
func TestRefreshLostResponse(t *testing.T) {
	const grace = 5 * time.Second
	t.Run("RetryWithinGrace", func(t *testing.T) {
		e, tok := refreshEnv(t, grace)
		old := tok["refresh_token"].(string)
		code, lost, _ := refresh(t, e, old) // the client never sees this answer
		if code != "" {
			t.Fatalf("first refresh: %s", code)
		}
		e.clock.Advance(time.Second)
		code, retried, _ := refresh(t, e, old)
		if code != "" {
			t.Fatalf("retry with the previous token within the grace: %q, want a fresh pair", code)
		}
		if retried["refresh_token"] == lost["refresh_token"] {
			t.Fatal("the retry returned the lost token again")
		}
		if userinfoStatus(t, e, retried["access_token"].(string)) != http.StatusOK {
			t.Fatal("the retried access token does not work")
		}
		code, used, _ := refresh(t, e, retried["refresh_token"].(string))
		if code != "" {
			t.Fatalf("refresh with the retried token: %q", code)
		}
		// The successor has been used now: the previous token again is reuse.
		e.clock.Advance(time.Second)
		if code, _, _ := refresh(t, e, old); code != "invalid_grant" {
			t.Fatalf("reuse after the successor was used: %q, want invalid_grant", code)
		}
		if code, _, _ := refresh(t, e, used["refresh_token"].(string)); code != "invalid_grant" {
			t.Fatalf("the family survived a reuse: %q", code)
		}
	})
	t.Run("LostSuccessorIsRevoked", func(t *testing.T) {
		e, tok := refreshEnv(t, grace)
		old := tok["refresh_token"].(string)
		_, lost, _ := refresh(t, e, old)
		e.clock.Advance(time.Second)
		code, retried, _ := refresh(t, e, old)
		if code != "" {
			t.Fatalf("retry: %q", code)
		}
		if code, _, _ := refresh(t, e, lost["refresh_token"].(string)); code != "invalid_grant" {
			t.Fatalf("the revoked successor still refreshed: %q", code)
		}
		// It was never redeemed, so presenting it is not reuse: the retry's token still works.
		if code, _, _ := refresh(t, e, retried["refresh_token"].(string)); code != "" {
			t.Fatalf("the retry's token after the superseded one was presented: %q (family revoked?)", code)
		}
	})
	t.Run("AfterGrace", func(t *testing.T) {
		e, tok := refreshEnv(t, grace)
		old := tok["refresh_token"].(string)
		_, next, _ := refresh(t, e, old)
		e.clock.Advance(grace + time.Second)
		if code, _, _ := refresh(t, e, old); code != "invalid_grant" {
			t.Fatalf("reuse after the grace: %q, want invalid_grant", code)
		}
		if code, _, _ := refresh(t, e, next["refresh_token"].(string)); code != "invalid_grant" {
			t.Fatalf("the family survived a reuse after the grace: %q", code)
		}
	})
	t.Run("NoGrace", func(t *testing.T) {
		e, tok := refreshEnv(t, 0)
		old := tok["refresh_token"].(string)
		_, next, _ := refresh(t, e, old)
		e.clock.Advance(time.Second)
		if code, _, _ := refresh(t, e, old); code != "invalid_grant" {
			t.Fatalf("reuse with reuse_grace 0: %q, want invalid_grant", code)
		}
		if code, _, _ := refresh(t, e, next["refresh_token"].(string)); code != "invalid_grant" {
			t.Fatalf("the family survived a reuse: %q", code)
		}
	})
}

// TestRefreshConcurrentUse: 8 requests with the same refresh token at once, all inside the
// upstream call together (held at a gate until all 8 are there: on a loaded machine a fixed
// delay let one arrive after the winner committed, a retry within the grace that rightly
// succeeds). Exactly one wins the rotation; the others, which arrived
// before it committed, are refused without revoking anything, so the winner's token keeps
// working (issue 13.1: the winner's result stands).
func TestRefreshConcurrentUse(t *testing.T) {
	e, tok := refreshEnv(t, 5*time.Second)
	rt := tok["refresh_token"].(string)
	const n = 8
	e.UpstreamGate.Hold(n)
	defer e.UpstreamGate.Release()
	var (
		wg    sync.WaitGroup
		codes [n]string
		resps [n]map[string]any
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			codes[i], resps[i], _ = refresh(t, e, rt)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, c := range codes {
		switch c {
		case "":
			if winner >= 0 {
				t.Fatalf("two concurrent refreshes succeeded: %v", codes)
			}
			winner = i
		case "invalid_grant":
		default:
			t.Fatalf("concurrent refresh %d: %q", i, c)
		}
	}
	if winner < 0 {
		t.Fatalf("no concurrent refresh succeeded: %v", codes)
	}
	if code, _, _ := refresh(t, e, resps[winner]["refresh_token"].(string)); code != "" {
		t.Fatalf("the winner's token after the race: %q (family revoked by a loser?)", code)
	}
}
