package broker_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

func deviceServer(t *testing.T) *brokertest.Server {
	return brokertest.New(t, brokertest.Options{Config: func(c *config.Config) {
		harnessConfig(c, "ES256", nil)
		c.Clients = append(c.Clients,
			config.Client{ID: "tv", Public: true, GrantTypes: []string{deviceGrant, "refresh_token"}},
			config.Client{ID: "tv2", Public: true, GrantTypes: []string{deviceGrant}},
		)
	}})
}

// deviceStart asks for a device code.
func deviceStart(t *testing.T, s *brokertest.Server, client, scope string) (deviceCode, userCode, complete string) {
	t.Helper()
	st, body := apiPost(t, s, "/device/code", url.Values{"client_id": {client}, "scope": {scope}}, "", "")
	if st != 200 {
		t.Fatalf("device code: %d %v", st, body)
	}
	if body["verification_uri"] != s.Issuer+"/device" || body["interval"] != float64(5) || body["expires_in"] != float64(600) {
		t.Fatalf("device code response %v", body)
	}
	uc := body["user_code"].(string)
	if len(uc) != 9 || uc[4] != '-' || strings.Trim(strings.ReplaceAll(uc, "-", ""), "BCDFGHJKLMNPQRSTVWXZ") != "" {
		t.Fatalf("user code %q: want XXXX-XXXX from the consonant alphabet", uc)
	}
	return body["device_code"].(string), uc, body["verification_uri_complete"].(string)
}

func devicePoll(t *testing.T, s *brokertest.Server, client, code string) (int, map[string]any) {
	t.Helper()
	return apiPost(t, s, "/token", url.Values{"grant_type": {deviceGrant}, "device_code": {code}, "client_id": {client}}, "", "")
}

// deviceApprove enters the code on the verification page (as a browser) and signs in as
// alice; decision is allow or deny. It returns the final page.
func deviceApprove(t *testing.T, s *brokertest.Server, complete, userCode, decision string) brokertest.Page {
	t.Helper()
	b := s.Browser()
	p := b.Get(complete)
	if p.Status != 200 || !strings.Contains(p.Body, userCode) {
		t.Fatalf("verification page %d:\n%s", p.Status, p.Body)
	}
	action, vals := brokertest.Form(t, p.Body)
	vals.Set("user_code", strings.ToLower(userCode)) // people type as they like
	p, _ = b.Follow(b.Post(s.Issuer+strings.TrimPrefix(action, ""), vals), s.Issuer+action)
	if !strings.Contains(p.Body, `name="password"`) {
		t.Fatalf("want the login form, got %d:\n%s", p.Status, p.Body)
	}
	action, vals = brokertest.Form(t, p.Body)
	vals.Set("username", "alice")
	vals.Set("password", alicePassword)
	p, _ = b.Follow(b.Post(s.Issuer+action, vals), s.Issuer+action)
	if !strings.Contains(p.Body, `value="allow"`) {
		t.Fatalf("want the consent page, got %d:\n%s", p.Status, p.Body)
	}
	action, vals = brokertest.Form(t, p.Body)
	vals.Set("decision", decision)
	p, _ = b.Follow(b.Post(s.Issuer+action, vals), s.Issuer+action)
	return p
}

func TestDeviceFlow(t *testing.T) {
	s := deviceServer(t)
	code, uc, complete := deviceStart(t, s, "tv", "openid offline_access")
	if st, body := devicePoll(t, s, "tv", code); st != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("first poll: %d %v", st, body)
	}
	if st, body := devicePoll(t, s, "tv", code); st != 400 || body["error"] != "slow_down" {
		t.Fatalf("poll right away: %d %v, want slow_down", st, body)
	}
	if st, body := devicePoll(t, s, "tv2", code); st != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("poll by another client: %d %v", st, body)
	}
	p := deviceApprove(t, s, complete, uc, "allow")
	if p.Status != 200 || !strings.Contains(p.Body, "Device connected") {
		t.Fatalf("after consent: %d\n%s", p.Status, p.Body)
	}
	s.Clock.Advance(6 * time.Second)
	st, tok := devicePoll(t, s, "tv", code)
	if st != 200 || tok["access_token"] == nil || tok["id_token"] == nil || tok["refresh_token"] == nil {
		t.Fatalf("poll after approval: %d %v", st, tok)
	}
	if c := jwtClaims(t, tok["access_token"].(string)); c["client_id"] != "tv" || c["sub"] == "" || c["sub"] == "tv" {
		t.Fatalf("access token claims %v: want alice's sub", c)
	}
	s.Clock.Advance(6 * time.Second)
	if st, body := devicePoll(t, s, "tv", code); st != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("poll after the tokens: %d %v", st, body)
	}
	events, err := s.Store.(storage.AuditStore).ListAuditEvents(t.Context(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	issued := 0
	for _, e := range events {
		if e.Type == "token.issued" && e.Detail["grant_type"] == "device_code" && e.ClientID == "tv" && e.User != "" {
			issued++
		}
	}
	if issued != 1 {
		t.Errorf("%d token.issued audit events for the device grant, want 1", issued)
	}
	// The refresh token works (offline_access).
	if st, body := apiPost(t, s, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {"tv"}}, "", ""); st != 200 {
		t.Fatalf("refresh: %d %v", st, body)
	}
	// The code cannot be entered again.
	b := s.Browser()
	p = b.Get(complete)
	action, vals := brokertest.Form(t, p.Body)
	vals.Set("user_code", uc)
	if p = b.Post(s.Issuer+action, vals); p.Status != 400 || !strings.Contains(p.Body, "not valid") {
		t.Fatalf("reused user code: %d\n%s", p.Status, p.Body)
	}
}

func TestDeviceFlowRefusals(t *testing.T) {
	s := deviceServer(t)
	t.Run("denied", func(t *testing.T) {
		code, uc, complete := deviceStart(t, s, "tv", "openid")
		p := deviceApprove(t, s, complete, uc, "deny")
		if !strings.Contains(p.Body, "Access denied") {
			t.Fatalf("after deny: %d\n%s", p.Status, p.Body)
		}
		if st, body := devicePoll(t, s, "tv", code); st != 400 || body["error"] != "access_denied" {
			t.Fatalf("poll after deny: %d %v", st, body)
		}
		if st, body := devicePoll(t, s, "tv", code); st != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("second poll after deny: %d %v", st, body)
		}
	})
	t.Run("expired", func(t *testing.T) {
		code, _, _ := deviceStart(t, s, "tv", "openid")
		s.Clock.Advance(11 * time.Minute)
		if st, body := devicePoll(t, s, "tv", code); st != 400 || body["error"] != "expired_token" {
			t.Fatalf("poll after expiry: %d %v", st, body)
		}
	})
	t.Run("no offline_access without refresh_token grant", func(t *testing.T) {
		code, uc, complete := deviceStart(t, s, "tv2", "openid offline_access")
		deviceApprove(t, s, complete, uc, "allow")
		if st, tok := devicePoll(t, s, "tv2", code); st != 200 || tok["refresh_token"] != nil {
			t.Fatalf("poll: %d %v, want tokens without a refresh token", st, tok)
		}
	})
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		err    string
	}{
		{"client without the grant", url.Values{"client_id": {confidentialID}, "client_secret": {confidentialSecret}, "scope": {"openid"}}, 400, "unauthorized_client"},
		{"unknown client", url.Values{"client_id": {"ghost"}, "scope": {"openid"}}, 401, "invalid_client"},
		{"unknown scope", url.Values{"client_id": {"tv"}, "scope": {"openid rootaccess"}}, 400, "invalid_scope"},
		{"no scope", url.Values{"client_id": {"tv"}}, 400, "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st, body := apiPost(t, s, "/device/code", tc.form, "", ""); st != tc.status || body["error"] != tc.err {
				t.Fatalf("got %d %v, want %d %s", st, body, tc.status, tc.err)
			}
		})
	}
	t.Run("unknown device code", func(t *testing.T) {
		if st, body := devicePoll(t, s, "tv", "nope"); st != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("got %d %v", st, body)
		}
	})
	t.Run("code entry is rate limited", func(t *testing.T) {
		b := s.Browser()
		p := b.Get(s.Issuer + "/device")
		action, vals := brokertest.Form(t, p.Body)
		last := 0
		for i := range 11 {
			vals.Set("user_code", "BBBB-BBB"+string("BCDFGHJKLMNP"[i]))
			last = b.Post(s.Issuer+action, vals).Status
		}
		if last != http.StatusTooManyRequests {
			t.Fatalf("11th wrong code: %d, want 429", last)
		}
		_, uc, _ := deviceStart(t, s, "tv", "openid")
		vals.Set("user_code", uc)
		if p := b.Post(s.Issuer+action, vals); p.Status != http.StatusTooManyRequests {
			t.Fatalf("right code while limited: %d, want 429", p.Status)
		}
	})
	t.Run("entry without CSRF token", func(t *testing.T) {
		b := s.Browser()
		b.Get(s.Issuer + "/device")
		if p := b.Post(s.Issuer+"/device", url.Values{"user_code": {"BBBB-BBBB"}}); p.Status != http.StatusForbidden {
			t.Fatalf("got %d, want 403", p.Status)
		}
	})
}

// TestDeviceWrongClientPollKeepsApproval (issue 17): a device code polled by a client it was
// not issued to gets invalid_grant and changes nothing, at every stage: the approval is not
// consumed, so the right client still gets its tokens afterwards; an unknown code, a denied
// code and a consumed one answer the wrong client invalid_grant too.
func TestDeviceWrongClientPollKeepsApproval(t *testing.T) {
	s := deviceServer(t)
	code, uc, complete := deviceStart(t, s, "tv", "openid offline_access")
	wrong := func(stage string) {
		t.Helper()
		for _, client := range []string{"tv2", "machine-unknown"} {
			st, body := devicePoll(t, s, client, code)
			want := "invalid_grant"
			if client == "machine-unknown" {
				want = "invalid_client"
			}
			if st < 400 || body["error"] != want {
				t.Fatalf("%s: poll by %s: %d %v, want %s", stage, client, st, body, want)
			}
		}
	}
	wrong("pending")
	// The wrong client's polls are not the owner's: its first poll is not slow_down.
	if st, body := devicePoll(t, s, "tv", code); st != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("owner's first poll after the wrong client's: %d %v", st, body)
	}
	if p := deviceApprove(t, s, complete, uc, "allow"); p.Status != 200 || !strings.Contains(p.Body, "Device connected") {
		t.Fatalf("after consent: %d\n%s", p.Status, p.Body)
	}
	s.Clock.Advance(6 * time.Second)
	wrong("approved")
	st, tok := devicePoll(t, s, "tv", code)
	if st != 200 || tok["access_token"] == nil || tok["refresh_token"] == nil {
		t.Fatalf("the right client after a wrong client polled the approved code: %d %v, want its tokens", st, tok)
	}
	if c := jwtClaims(t, tok["access_token"].(string)); c["client_id"] != "tv" {
		t.Fatalf("access token claims %v", c)
	}
	s.Clock.Advance(6 * time.Second)
	wrong("consumed")
	if st, body := devicePoll(t, s, "tv2", "not-a-code"); st != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("unknown code: %d %v", st, body)
	}
}
