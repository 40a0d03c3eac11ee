package claims

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Trace records what each step of the pipeline did to one upstream identity, and what would
// be issued, for `gatehouse claims explain` and claims_tests.
type Trace struct {
	Steps []*TraceStep
	// Identity is the normalized identity (zero when denied).
	Identity storage.Identity
	// Denied is the reason shown to the user when a rule turned them away ("" otherwise).
	Denied string
	// IDToken and Userinfo are the identity claims the client would receive (sub included;
	// protocol claims such as iss, aud and exp are left out).
	IDToken  map[string]any
	Userinfo map[string]any
}

// TraceStep is one pipeline step and what its rules did.
type TraceStep struct {
	Name  string
	Notes []string
}

// step starts a step; on a nil Trace it returns nil, whose notef does nothing.
func (t *Trace) step(name string) *TraceStep {
	if t == nil {
		return nil
	}
	s := &TraceStep{Name: name}
	t.Steps = append(t.Steps, s)
	return s
}

func (s *TraceStep) notef(format string, args ...any) {
	if s == nil {
		return
	}
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}

// show renders a claim value for a trace.
func show(v any) string {
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// DefaultScopes is what Explain and claims_tests grant when no scopes are given: openid and
// every known scope.
func (n *Normalizer) DefaultScopes() []string {
	return slices.DeleteFunc(n.SupportedScopes(), func(s string) bool { return s == "offline_access" })
}

// Explain runs an upstream identity through a connector's rules and, when clientID is set,
// the client's; it reports each step and the claims that would be issued for scopes (nil:
// DefaultScopes). A denial is reported in the Trace, not as an error. Linking uses the
// Normalizer's store: build it with New and no Links for a dry run.
func (n *Normalizer) Explain(ctx context.Context, connectorID string, up connectors.Upstream, clientID string, scopes []string) (*Trace, error) {
	if n.rules != nil && n.rules.connectors[connectorID] == nil {
		return nil, fmt.Errorf("claims: no connector %q is configured", connectorID)
	}
	if clientID != "" && n.client(clientID) == nil {
		return nil, fmt.Errorf("claims: no client %q is configured", clientID)
	}
	if scopes == nil {
		scopes = n.DefaultScopes()
	}
	tr := &Trace{}
	id, err := n.run(ctx, connectorID, up, tr)
	var denied *connectors.DeniedError
	switch {
	case errors.As(err, &denied):
		tr.Denied = denied.Reason
		return tr, nil
	case err != nil:
		return tr, err
	}
	if clientID != "" {
		st := tr.step("authorize client")
		if err := n.AuthorizeClient(clientID, id); err != nil {
			errors.As(err, &denied)
			st.notef("denied: %s", denied.Reason)
			tr.Denied = denied.Reason
			return tr, nil
		}
		st.notef("client %s requirements met", clientID)
	}
	tr.Identity = id
	st := tr.step("emit")
	st.notef("scopes: %s", strings.Join(scopes, " "))
	sub := n.SubjectFor(clientID, id.Subject)
	if sub != id.Subject {
		st.notef("pairwise sub for client %s: %s", clientID, sub)
	}
	auth := storage.Authentication{ConnectorID: connectorID, ACR: up.ACR, AMR: up.AMR, UpstreamSubject: up.Subject}
	tr.IDToken = n.Claims(clientID, id, auth, scopes)
	tr.IDToken["sub"] = sub
	tr.Userinfo = maps.Clone(tr.IDToken)
	return tr, nil
}

// dryRun returns a Normalizer with the same rules and a fresh in-memory link store.
func (n *Normalizer) dryRun() *Normalizer {
	mem := newDryLinks()
	return &Normalizer{Links: mem, newID: mem.nextID, Now: n.Now, Logger: n.Logger, rules: n.rules}
}

// UpstreamOf converts a claims test input into the upstream identity a connector would return.
func UpstreamOf(in config.ClaimsTestInput) connectors.Upstream {
	return connectors.Upstream{
		Subject: in.Subject, Username: in.Username, Email: in.Email, EmailVerified: in.EmailVerified,
		EmailNotLinkable: in.EmailNotLinkable, Name: in.Name, Groups: in.Groups, Attrs: in.Attrs, ACR: in.ACR, AMR: in.AMR,
	}
}

// Check compiles the claims configuration (every expression, pattern and scope) and runs its
// claims_tests, each on a fresh dry-run store. It returns nil or a *config.Errors whose
// problems cite file:line; it does no I/O.
func Check(ctx context.Context, cfg *config.Config) error {
	n, err := New(cfg, Options{})
	if err != nil {
		return err
	}
	b := &builder{cfg: cfg}
	for i, tc := range cfg.ClaimsTests {
		path := fmt.Sprintf("claims_tests[%d]", i)
		for _, msg := range n.dryRun().runTest(ctx, tc) {
			b.problem(path, "test %q failed: %s", tc.Name, msg)
		}
	}
	if len(b.problems) > 0 {
		return &config.Errors{Problems: b.problems}
	}
	return nil
}

// runTest runs one claims test and returns what did not match.
func (n *Normalizer) runTest(ctx context.Context, tc config.ClaimsTest) []string {
	tr, err := n.Explain(ctx, tc.Connector, UpstreamOf(tc.Input), tc.Client, tc.Scopes)
	if err != nil {
		return []string{err.Error()}
	}
	want := tc.Expect
	switch {
	case want.Denied && tr.Denied == "":
		return []string{"expected the login to be denied, but it succeeded"}
	case want.Denied:
		if want.Reason != "" && !strings.Contains(tr.Denied, want.Reason) {
			return []string{fmt.Sprintf("denied with %q, which does not contain %q", tr.Denied, want.Reason)}
		}
		return nil
	case tr.Denied != "":
		return []string{fmt.Sprintf("the login was denied: %s", tr.Denied)}
	}
	var out []string
	got := normalizeJSON(tr.IDToken)
	for _, k := range slices.Sorted(maps.Keys(want.Claims)) {
		w := normalizeJSON(want.Claims[k])
		g, ok := got.(map[string]any)[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("claim %q is missing, want %s", k, show(w)))
		case !reflect.DeepEqual(g, w):
			out = append(out, fmt.Sprintf("claim %q = %s, want %s", k, show(g), show(w)))
		}
	}
	return out
}

// normalizeJSON round-trips v through JSON so values compare as JSON does.
func normalizeJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return string(b)
	}
	return out
}
