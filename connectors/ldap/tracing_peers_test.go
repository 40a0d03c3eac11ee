//go:build peers

package ldap

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/otlptest"
)

// A W3C traceparent the test's token request carries, as a trusted proxy would forward it.
const (
	proxyTrace = "0af7651916cd43dd8448eb211c80319c"
	proxySpan  = "b7ad6b7169203331"
)

// traceparentTransport adds the proxy's traceparent to POST /token.
type traceparentTransport struct{ next http.RoundTripper }

func (t traceparentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") {
		r = r.Clone(r.Context())
		r.Header.Set("Traceparent", "00-"+proxyTrace+"-"+proxySpan+"-01")
	}
	return t.next.RoundTrip(r)
}

// TestTracingCodeFlow runs one authorization code flow through the LDAP connector against the
// real slapd with tracing.otlp_endpoint pointing at an in-process OTLP/HTTP receiver (which
// decodes the protobuf export) and asserts the span tree: the authorize, login POST and token
// requests are roots (the token request a child of the trusted proxy's traceparent), the LDAP
// bind and searches under the connector call under the login POST, storage statements under
// every request, and the token signatures under the token request.
func TestTracingCodeFlow(t *testing.T) {
	s := needPeers(t).slapd
	corp, _ := open(t, slapdConfig(s))
	rc := otlptest.New()
	defer rc.Close()
	bs := brokertest.New(t, brokertest.Options{
		Config: func(cfg *config.Config) {
			cfg.Connectors = nil
			cfg.Clients = []config.Client{{ID: rpID, Secret: rpSecret, Name: "Test App", RedirectURIs: []string{rpRedirect}}}
			one := 1.0
			cfg.Tracing = config.Tracing{OTLPEndpoint: rc.URL, SampleRatio: &one}
			cfg.Web.TrustedProxies = []string{"127.0.0.1/32"} // the test client stands for the proxy
		},
		Slots: func([]connset.Slot) []connset.Slot { return []connset.Slot{{Info: corp.Info(), Conn: corp}} },
	})
	client := bs.HTTP.Client()
	client.Transport = traceparentTransport{next: client.Transport}
	ctx := gooidc.ClientContext(context.Background(), client)
	provider, err := gooidc.NewProvider(ctx, bs.HTTP.URL)
	if err != nil {
		t.Fatal(err)
	}
	oc := oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, Endpoint: provider.Endpoint(), RedirectURL: rpRedirect,
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups"}}
	pkce := oauth2.GenerateVerifier()
	b := newBrowser(t, bs.HTTP.URL)
	p := b.do(http.MethodGet, oc.AuthCodeURL("st4te", gooidc.Nonce("n0nce"), oauth2.S256ChallengeOption(pkce)), nil)
	p = b.submit(p, url.Values{"username": {"alice"}, "password": {alicePW}})
	if p.status == http.StatusOK && strings.Contains(p.body, `value="allow"`) {
		p = b.submit(p, url.Values{"decision": {"allow"}})
	}
	cb, err := url.Parse(p.url)
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("no code: %d %s\n%s", p.status, p.url, p.body)
	}
	if _, err := oc.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(pkce)); err != nil {
		t.Fatal(err)
	}
	if err := bs.Gatehouse.Tracer.Shutdown(context.Background()); err != nil { // flush every span
		t.Fatal(err)
	}
	spans := rc.Spans()
	if errs := rc.Errors(); len(errs) > 0 {
		t.Fatalf("receiver refused exports: %v", errs)
	}
	tree := otlptest.Tree(spans)
	t.Logf("span tree of one code flow:\n%s", tree)

	byID := map[string]otlptest.Span{}
	for _, sp := range spans {
		byID[sp.SpanID] = sp
	}
	// root returns the request span a span is under (itself for a request span).
	root := func(sp otlptest.Span) otlptest.Span {
		for sp.ParentID != "" {
			up, ok := byID[sp.ParentID]
			if !ok {
				break
			}
			sp = up
		}
		return sp
	}
	under := map[string]map[string]int{} // request span name -> child span name -> count
	var requests []otlptest.Span
	for _, sp := range spans {
		r := root(sp)
		if r.SpanID == sp.SpanID {
			requests = append(requests, sp)
			continue
		}
		if r.TraceID != sp.TraceID {
			t.Errorf("span %s has trace %s, its request %s has %s", sp.Name, sp.TraceID, r.Name, r.TraceID)
		}
		if under[r.Name] == nil {
			under[r.Name] = map[string]int{}
		}
		under[r.Name][sp.Name]++
	}
	tests := []struct {
		request     string
		parentTrace string // "" = a new root
		children    []string
	}{
		{"GET /authorize", "", []string{"storage.insert auth_requests"}},
		{"POST /login/{connector}", "", []string{"connector.login", "ldap.search", "ldap.bind", "storage.select auth_requests"}},
		{"POST /token", proxyTrace, []string{"tokens.sign", "storage.update auth_codes", "storage.insert grants"}},
	}
	for _, tt := range tests {
		var req *otlptest.Span
		for i := range requests {
			if requests[i].Name == tt.request {
				req = &requests[i]
			}
		}
		if req == nil {
			t.Errorf("no request span %q:\n%s", tt.request, tree)
			continue
		}
		switch {
		case tt.parentTrace == "" && req.ParentID != "":
			t.Errorf("%s: parent %s, want a root", tt.request, req.ParentID)
		case tt.parentTrace != "" && (req.TraceID != tt.parentTrace || req.ParentID != proxySpan):
			t.Errorf("%s: trace %s parent %s, want the proxy's %s / %s", tt.request, req.TraceID, req.ParentID, tt.parentTrace, proxySpan)
		}
		for _, c := range tt.children {
			if under[tt.request][c] == 0 {
				t.Errorf("no %q span under %s; under it: %v", c, tt.request, under[tt.request])
			}
		}
	}
	if n := under["POST /token"]["tokens.sign"]; n != 2 {
		t.Errorf("%d signature spans under POST /token, want 2 (access token, ID token)", n)
	}
	for _, sp := range spans {
		if strings.HasPrefix(sp.Name, "ldap.") && byID[sp.ParentID].Name != "connector.login" {
			t.Errorf("%s (%s) is under %q, want connector.login", sp.Name, sp.Attrs["ldap.op"], byID[sp.ParentID].Name)
		}
	}
	if under["POST /login/{connector}"]["ldap.search"] < 2 {
		t.Errorf("want the user search and the group search under the login POST: %v", under["POST /login/{connector}"])
	}
}
