package broker_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
)

// hintUpstream is a redirect connector that records the login_hint of every Begin and, when
// down, answers as an upstream that cannot be reached.
type hintUpstream struct {
	info  connectors.Info
	down  bool
	mu    sync.Mutex
	hints []string
}

func (u *hintUpstream) Info() connectors.Info { return u.info }
func (u *hintUpstream) Close() error          { return nil }

func (u *hintUpstream) Begin(_ context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	u.mu.Lock()
	u.hints = append(u.hints, req.LoginHint)
	u.mu.Unlock()
	if u.down {
		return connectors.Step{}, &connectors.UpstreamError{Temporary: true, Err: errors.New("connection refused")}
	}
	return connectors.Step{URL: "https://" + u.info.ID + ".test/auth?state=" + url.QueryEscape(req.State)}, nil
}

func (u *hintUpstream) Finish(context.Context, connectors.FinishRequest, *http.Request) (connectors.Upstream, error) {
	return connectors.Upstream{}, errors.New("not used")
}

func (u *hintUpstream) lastHint() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.hints) == 0 {
		return "(no Begin)"
	}
	return u.hints[len(u.hints)-1]
}

// idFirstYAML: identifier-first, the local connector, Corp SSO for corp.example, a
// connector whose upstream is down (flaky.example) and one that failed to open
// (broken.example); the client "narrow" may use local and flaky only.
const idFirstYAML = `storage: {type: sqlite, config: {file: "{{db}}"}}
login: { identifier_first: true }
connectors:
  - {type: local, id: local, name: Local accounts, config: {cost: 4}}
  - {type: corp, id: corp, name: Corp SSO, domains: [corp.example]}
  - {type: flaky, id: flaky, name: Flaky SSO, domains: [flaky.example]}
  - {type: broken, id: broken, name: Broken SSO, domains: [broken.example]}
clients:
  - {id: app, secret: app-secret-0123456789abcdef, redirect_uris: ["http://127.0.0.1:9999/cb"], trusted: true}
  - {id: narrow, secret: app-secret-0123456789abcdef, redirect_uris: ["http://127.0.0.1:9999/cb"], trusted: true, allowed_connectors: [local, flaky]}
`

const idFirstPassword = "correct horse battery staple"

type idFirstEnv struct {
	*brokertest.Server
	corp, flaky *hintUpstream
}

func newIDFirst(t *testing.T, cost int) *idFirstEnv {
	t.Helper()
	e := &idFirstEnv{
		corp:  &hintUpstream{info: connectors.Info{ID: "corp", Type: "corp", Name: "Corp SSO"}},
		flaky: &hintUpstream{info: connectors.Info{ID: "flaky", Type: "flaky", Name: "Flaky SSO"}, down: true},
	}
	hash, err := local.HashPassword(idFirstPassword, cost)
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(idFirstYAML, "cost: 4", "cost: "+strconv.Itoa(cost), 1)
	e.Server = brokertest.New(t, brokertest.Options{YAML: y,
		Registry: func(local.UserSource) connectors.Registry {
			return connectors.Registry{
				"corp":   brokertest.Opened(e.corp, nil),
				"flaky":  brokertest.Opened(e.flaky, nil),
				"broken": brokertest.Opened(nil, errors.New("discovery: connection refused")),
			}
		},
		Config: func(c *config.Config) {
			c.Users = append(c.Users, config.User{Username: "alice", Email: "alice@home.example", EmailVerified: true, PasswordHash: hash})
		},
	})
	return e
}

// authURL is an authorization request of client with extra parameters.
func (e *idFirstEnv) authURL(client string, extra url.Values) string {
	_, challenge := brokertest.PKCE(strings.Repeat("v", 43))
	q := url.Values{"client_id": {client}, "redirect_uri": {brokertest.ClientRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return e.Issuer + "/authorize?" + q.Encode()
}

// browser returns a browser that chose the connector last (none when empty).
func (e *idFirstEnv) browser(last string) *brokertest.Browser {
	b := e.Browser()
	if last != "" {
		u, err := url.Parse(e.Issuer)
		if err != nil {
			e.T.Fatal(err)
		}
		b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "gh_last_connector", Value: last, Path: "/"}})
	}
	return b
}

// identify opens the authorization request and submits identifier on the identifier page;
// it returns the page it ends on and its URL.
func (e *idFirstEnv) identify(b *brokertest.Browser, authURL, identifier string) (brokertest.Page, string) {
	e.T.Helper()
	p, at := b.Follow(b.Get(authURL), authURL)
	if !strings.Contains(p.Body, `name="identifier"`) {
		e.T.Fatalf("expected the identifier page at %s, got %d:\n%s", at, p.Status, p.Body)
	}
	action, vals := brokertest.Form(e.T, p.Body)
	vals.Set("identifier", identifier)
	return b.Follow(b.Post(e.Issuer+action, vals), e.Issuer+action)
}

var (
	readonlyUserRe = regexp.MustCompile(`<input id="username" name="username" type="text" autocomplete="username" maxlength="256" readonly value="([^"]*)">`)
	identifierRe   = regexp.MustCompile(`<input id="identifier" name="identifier"[^>]* value="([^"]*)">`)
)

// TestIdentifierFirstRouting: each routing rule in its order, through a served Gatehouse.
func TestIdentifierFirstRouting(t *testing.T) {
	e := newIDFirst(t, 4)
	for _, tt := range []struct {
		name       string
		client     string
		params     url.Values
		last       string // the last-used cookie
		identifier string // typed on the identifier page ("": the request routes before it)
		// want: "upstream:<id>" (redirected to that connector's provider), "password:<id>"
		// (the password step, identifier kept), "identifier" (the identifier page), "list"
		// (the chooser), or "status:<code>" with wantText.
		want, wantText, wantHint string
	}{
		{name: "no hint: the identifier page", client: "app", want: "identifier"},
		{name: "connector_id wins over everything", client: "app", params: url.Values{"connector_id": {"corp"}, "login_hint": {"x@flaky.example"}}, last: "local",
			want: "upstream:corp", wantHint: "x@flaky.example"},
		{name: "connector_id of a password connector", client: "app", params: url.Values{"connector_id": {"local"}}, want: "password:local"},
		{name: "login_hint in a routed domain goes straight there", client: "app", params: url.Values{"login_hint": {"bob@corp.example"}}, last: "local",
			want: "upstream:corp", wantHint: "bob@corp.example"},
		{name: "login_hint without a routed domain pre-fills", client: "app", params: url.Values{"login_hint": {"alice"}}, want: "identifier", wantText: `value="alice"`},
		{name: "login_hint whose domain's connector is broken pre-fills", client: "app", params: url.Values{"login_hint": {"x@broken.example"}}, want: "identifier"},
		{name: "email domain routes, case-insensitively, hint passed upstream", client: "app", identifier: "Bob@Corp.Example", last: "local",
			want: "upstream:corp", wantHint: "Bob@Corp.Example"},
		{name: "domain before the last-used cookie", client: "app", identifier: "bob@corp.example", last: "flaky", want: "upstream:corp", wantHint: "bob@corp.example"},
		{name: "subdomains are not the domain", client: "app", identifier: "bob@eu.corp.example", want: "list"},
		{name: "last-used password connector: the password step", client: "app", identifier: "alice", last: "local", want: "password:local"},
		{name: "last-used redirect connector gets the hint", client: "app", identifier: "bob", last: "corp", want: "upstream:corp", wantHint: "bob"},
		{name: "a last-used connector the client does not allow is ignored", client: "narrow", identifier: "bob", last: "corp", want: "list"},
		{name: "a forged last-used cookie is ignored", client: "app", identifier: "bob", last: "nope", want: "list"},
		{name: "nothing routes: the list", client: "app", identifier: "alice", want: "list"},
		{name: "a domain of a connector the client does not allow is not routed", client: "narrow", identifier: "bob@corp.example", want: "list"},
		{name: "domain of a connector that failed to open: named, others offered", client: "app", identifier: "bob@broken.example",
			want: "status:503", wantText: "Broken SSO is unavailable right now. Choose another way to sign in."},
		{name: "domain of a connector whose upstream is down: named, others offered", client: "app", identifier: "bob@flaky.example",
			want: "status:503", wantText: "Flaky SSO is unavailable right now. Choose another way to sign in.", wantHint: "bob@flaky.example"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser(tt.last)
			u := e.authURL(tt.client, tt.params)
			var p brokertest.Page
			var at string
			if tt.identifier != "" {
				p, at = e.identify(b, u, tt.identifier)
			} else {
				p, at = b.Follow(b.Get(u), u)
			}
			kind, id, _ := strings.Cut(tt.want, ":")
			switch kind {
			case "upstream":
				if !strings.HasPrefix(at, "https://"+id+".test/auth") {
					t.Fatalf("ended at %s (%d), want the %s provider:\n%s", at, p.Status, id, p.Body)
				}
			case "password":
				if p.Status != http.StatusOK || !strings.Contains(p.Body, `name="password"`) || !strings.Contains(at, "/login/"+id+"?") {
					t.Fatalf("ended at %s (%d), want %s's password step:\n%s", at, p.Status, id, p.Body)
				}
				if tt.identifier != "" {
					if m := readonlyUserRe.FindStringSubmatch(p.Body); m == nil || m[1] != tt.identifier || !strings.Contains(p.Body, "Not you?") {
						t.Fatalf("the password step does not keep %q read-only with a \"Not you?\" link:\n%s", tt.identifier, p.Body)
					}
				}
			case "identifier":
				if p.Status != http.StatusOK || !identifierRe.MatchString(p.Body) || strings.Contains(p.Body, `name="password"`) {
					t.Fatalf("ended at %s (%d), want the identifier page:\n%s", at, p.Status, p.Body)
				}
			case "list":
				links := brokertest.ChooserLinks(p.Body)
				if p.Status != http.StatusOK || len(links) < 2 || !strings.Contains(at, "list=1") {
					t.Fatalf("ended at %s (%d), want the list of connectors:\n%s", at, p.Status, p.Body)
				}
			case "status":
				if strconv.Itoa(p.Status) != id {
					t.Fatalf("status %d at %s, want %s:\n%s", p.Status, at, id, p.Body)
				}
				if len(brokertest.ChooserLinks(p.Body)) < 1 {
					t.Fatalf("no other way to sign in offered:\n%s", p.Body)
				}
			}
			if tt.wantText != "" && !strings.Contains(p.Body, tt.wantText) {
				t.Errorf("page lacks %q:\n%s", tt.wantText, p.Body)
			}
			if tt.wantHint != "" {
				up := e.corp
				if strings.Contains(tt.wantHint, "flaky") && !strings.HasPrefix(tt.want, "upstream:corp") {
					up = e.flaky
				}
				if got := up.lastHint(); got != tt.wantHint {
					t.Errorf("login_hint upstream %q, want %q", got, tt.wantHint)
				}
			}
		})
	}
}

// TestIdentifierFirstBadInput: a malformed, empty or oversized identifier gets the form back
// with a message (never a 500, never an echo of what was refused for its size); a missing or
// wrong CSRF token is refused and changes nothing; an unknown connector_id is refused.
func TestIdentifierFirstBadInput(t *testing.T) {
	e := newIDFirst(t, 4)
	for _, tt := range []struct {
		name, identifier, want string
		echo                   bool
	}{
		{"empty", "   ", "Enter your email or username.", false},
		{"no local part", "@corp.example", "does not look like an email or username", true},
		{"no domain", "bob@", "does not look like an email or username", true},
		{"one-label domain", "bob@localhost", "does not look like an email or username", true},
		{"bad domain", "bob@-corp.example", "does not look like an email or username", true},
		{"space in local part", "bob smith@corp.example", "does not look like an email or username", true},
		{"control character", "bob\x00@corp.example", "does not look like an email or username", false},
		{"invalid UTF-8", "bob\xff", "does not look like an email or username", false},
		{"too long", strings.Repeat("a", 257), "too long for an email or username", false},
		{"local part too long", strings.Repeat("a", 65) + "@corp.example", "does not look like an email or username", true},
		{"markup", `<script>x</script>@corp.example`, "does not look like an email or username", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser("")
			p, at := e.identify(b, e.authURL("app", nil), tt.identifier)
			if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, tt.want) || !identifierRe.MatchString(p.Body) {
				t.Fatalf("%d at %s, want 400 with the form and %q:\n%s", p.Status, at, tt.want, p.Body)
			}
			if strings.Contains(p.Body, "<script>") {
				t.Fatal("markup echoed unescaped")
			}
			if m := identifierRe.FindStringSubmatch(p.Body); tt.echo && m[1] == "" || len(m[1]) > 256 {
				t.Errorf("the form keeps %q", m[1])
			}
		})
	}
	t.Run("csrf", func(t *testing.T) {
		for _, csrf := range []string{"", "wrong", strings.Repeat("A", 43)} {
			b := e.browser("")
			u := e.authURL("app", nil)
			p, _ := b.Follow(b.Get(u), u)
			action, vals := brokertest.Form(t, p.Body)
			vals.Set("csrf", csrf)
			vals.Set("identifier", "bob@corp.example")
			p = b.Post(e.Issuer+action, vals)
			if p.Status != http.StatusForbidden {
				t.Fatalf("csrf %q: %d, want 403:\n%s", csrf, p.Status, p.Body)
			}
			ar, err := e.Store.GetAuthRequest(context.Background(), vals.Get("req"))
			if err != nil || ar.LoginHint != "" {
				t.Fatalf("csrf %q: the refused form changed the request (hint %q, %v)", csrf, ar.LoginHint, err)
			}
		}
	})
	t.Run("unknown connector_id", func(t *testing.T) {
		b := e.browser("")
		u := e.authURL("app", url.Values{"connector_id": {"nope"}})
		p, at := b.Follow(b.Get(u), u)
		if p.Status < 400 || p.Status >= 500 {
			t.Fatalf("%d at %s, want a refusal:\n%s", p.Status, at, p.Body)
		}
	})
	t.Run("oversized form", func(t *testing.T) {
		b := e.browser("")
		u := e.authURL("app", nil)
		p, _ := b.Follow(b.Get(u), u)
		action, vals := brokertest.Form(t, p.Body)
		vals.Set("identifier", strings.Repeat("a", 200<<10))
		if p = b.Post(e.Issuer+action, vals); p.Status < 400 || p.Status >= 500 {
			t.Fatalf("%d for a 200 KiB identifier, want a 4xx", p.Status)
		}
	})
}

// TestIdentifierFirstLocalLogin: the whole sign-in to a local user through the identifier
// page and the password step on the same page; a wrong password shows the same step again
// with the identifier kept; "Not you?" goes back to the identifier page pre-filled.
func TestIdentifierFirstLocalLogin(t *testing.T) {
	e := newIDFirst(t, 4)
	b := e.browser("local")
	u := e.authURL("app", nil)
	p, _ := e.identify(b, u, "alice")
	action, vals := brokertest.Form(t, p.Body)
	vals.Set("username", "alice")
	vals.Set("password", "wrong")
	p = b.Post(e.Issuer+action, vals)
	if m := readonlyUserRe.FindStringSubmatch(p.Body); p.Status != http.StatusUnauthorized || m == nil || m[1] != "alice" ||
		!strings.Contains(p.Body, "The username or password is wrong") {
		t.Fatalf("wrong password: %d, want 401 with the password step for alice:\n%s", p.Status, p.Body)
	}
	notYou := regexp.MustCompile(`<a href="([^"]*)" class="not-you">`).FindStringSubmatch(p.Body)
	if notYou == nil {
		t.Fatalf("no \"Not you?\" link:\n%s", p.Body)
	}
	back := b.Get(e.Issuer + strings.ReplaceAll(notYou[1], "&amp;", "&"))
	if m := identifierRe.FindStringSubmatch(back.Body); back.Status != http.StatusOK || m == nil || m[1] != "alice" {
		t.Fatalf("\"Not you?\": %d, want the identifier page with alice:\n%s", back.Status, back.Body)
	}
	action, vals = brokertest.Form(t, p.Body)
	vals.Set("username", "alice")
	vals.Set("password", idFirstPassword)
	p, at := b.Follow(b.Post(e.Issuer+action, vals), e.Issuer+action)
	if code := e.CodeFrom(p, at); code == "" {
		t.Fatal("no code")
	}
}

// TestIdentifierFirstNoEnumeration: an unknown user and a known one get the same next step
// (the same page but for the identifier and the per-request values), the same failure at
// the password, and the unknown user's failure is not cheaper: the local connector spends a
// bcrypt comparison (cost 8 here) on both. Measured as the CPU time of each request
// (wall time is logged too); medians of alternating attempts.
func TestIdentifierFirstNoEnumeration(t *testing.T) {
	e := newIDFirst(t, 8)
	normalize := func(body, identifier, req, csrf string) string {
		return strings.NewReplacer(identifier, "IDENT", req, "REQ", csrf, "CSRF").Replace(body)
	}
	// The server runs in this process and serves one request at a time here, so the
	// process's CPU time across a request is the work the request cost: unlike wall time, it
	// does not grow with the load of a shared machine.
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	attempt := func(identifier string) (next, failed string, status int, took, work time.Duration) {
		b := e.browser("local")
		p, _ := e.identify(b, e.authURL("app", nil), identifier)
		action, vals := brokertest.Form(t, p.Body)
		req, csrf := vals.Get("req"), vals.Get("csrf")
		next = normalize(p.Body, identifier, req, csrf)
		vals.Set("username", identifier)
		vals.Set("password", "not the password")
		t0, c0 := time.Now(), cpu()
		f := b.Post(e.Issuer+action, vals)
		took, work = time.Since(t0), cpu()-c0
		e.Clock.Advance(6 * time.Minute) // a new login window: the budget never answers instead
		_, fvals := brokertest.Form(t, f.Body)
		return next, normalize(f.Body, identifier, req, fvals.Get("csrf")), f.Status, took, work
	}
	var known, unknown, knownCPU, unknownCPU []time.Duration
	for i := range 8 {
		kn, kf, ks, kt, kc := attempt("alice")
		un, uf, us, ut, uc := attempt("mallory")
		if kn != un {
			t.Fatalf("the next step differs for a known and an unknown user:\n%s\n---\n%s", kn, un)
		}
		if ks != http.StatusUnauthorized || us != ks || kf != uf {
			t.Fatalf("the failure differs: %d vs %d\n%s\n---\n%s", ks, us, kf, uf)
		}
		if i >= 1 { // warm-up
			known, unknown = append(known, kt), append(unknown, ut)
			knownCPU, unknownCPU = append(knownCPU, kc), append(unknownCPU, uc)
		}
	}
	med := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	kw, uw, kc, uc := med(known), med(unknown), med(knownCPU), med(unknownCPU)
	t.Logf("failed password, medians of %d attempts each: known user %v CPU (%v wall), unknown user %v CPU (%v wall): CPU ratio %.2f",
		len(known), kc, kw, uc, uw, float64(uc)/float64(kc))
	if uc < kc*7/10 {
		t.Fatalf("the unknown user's failure costs distinguishably less: median %v CPU vs %v for a known user", uc, kc)
	}
}

// TestPasswordStepBounds: a username over 256 bytes posted to a password step is refused
// with the form (400) before any budget or connector sees it, in both sign-in modes.
func TestPasswordStepBounds(t *testing.T) {
	for _, idFirst := range []bool{true, false} {
		e := newIDFirst(t, 4)
		if !idFirst {
			e = &idFirstEnv{Server: brokertest.New(t, brokertest.RedirectOptions())}
		}
		b := e.browser("")
		u := e.authURL("app", url.Values{"connector_id": {"local"}})
		p, _ := b.Follow(b.Get(u), u)
		action, vals := brokertest.Form(t, p.Body)
		vals.Set("username", strings.Repeat("a", 257))
		vals.Set("password", "x")
		p = b.Post(e.Issuer+action, vals)
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "too long for an email or username") || !strings.Contains(p.Body, `name="password"`) {
			t.Fatalf("identifier_first %v: %d, want 400 with the form:\n%s", idFirst, p.Status, p.Body)
		}
	}
}

// TestIdentifierStepLooksNoUserUp: the identifier step and the password step it leads to
// never read the user store: with the local user source down they are served as usual, and
// only the password submission meets the outage.
func TestIdentifierStepLooksNoUserUp(t *testing.T) {
	e := newIDFirst(t, 4)
	e.UpstreamDown.Store(true)
	b := e.browser("local")
	p, at := e.identify(b, e.authURL("app", nil), "alice")
	if m := readonlyUserRe.FindStringSubmatch(p.Body); p.Status != http.StatusOK || m == nil || m[1] != "alice" {
		t.Fatalf("with the user store down: %d at %s, want the password step:\n%s", p.Status, at, p.Body)
	}
	action, vals := brokertest.Form(t, p.Body)
	vals.Set("username", "alice")
	vals.Set("password", idFirstPassword)
	if p = b.Post(e.Issuer+action, vals); p.Status != http.StatusServiceUnavailable {
		t.Fatalf("password with the user store down: %d, want 503:\n%s", p.Status, p.Body)
	}
}

// TestDomainsRouteLoginHintWithoutIdentifierFirst: with the chooser (identifier_first off),
// connectors[].domains still route a client's login_hint, and anything else gets the chooser.
func TestDomainsRouteLoginHintWithoutIdentifierFirst(t *testing.T) {
	corp := &hintUpstream{info: connectors.Info{ID: "corp", Type: "corp", Name: "Corp SSO"}}
	s := brokertest.New(t, brokertest.Options{YAML: strings.Replace(idFirstYAML, "login: { identifier_first: true }\n", "", 1),
		Registry: func(local.UserSource) connectors.Registry {
			return connectors.Registry{"corp": brokertest.Opened(corp, nil), "flaky": brokertest.Opened(nil, errors.New("down")),
				"broken": brokertest.Opened(nil, errors.New("down"))}
		}})
	e := &idFirstEnv{Server: s, corp: corp}
	for hint, want := range map[string]string{"bob@corp.example": "https://corp.test/auth", "bob@other.example": "", "bob": ""} {
		b := e.browser("")
		u := e.authURL("app", url.Values{"login_hint": {hint}})
		p, at := b.Follow(b.Get(u), u)
		switch {
		case want != "" && (!strings.HasPrefix(at, want) || corp.lastHint() != hint):
			t.Errorf("login_hint %q: ended at %s with upstream hint %q, want %s", hint, at, corp.lastHint(), want)
		case want == "" && (p.Status != http.StatusOK || len(brokertest.ChooserLinks(p.Body)) < 2 || strings.Contains(p.Body, `name="identifier"`)):
			t.Errorf("login_hint %q: %d at %s, want the chooser:\n%s", hint, p.Status, at, p.Body)
		}
	}
}
