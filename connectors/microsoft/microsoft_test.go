package microsoft_test

// Microsoft cannot be reached from the test machines: these tests run the connector against an
// httptest server (connectors/internal/fakeoauth) serving what Microsoft documents for the
// identity platform v2.0 (discovery with the "{tenantid}" issuer template on the multi-tenant
// endpoints, JWKS, token endpoint, ID tokens with tid/oid/iss per tenant) and Microsoft Graph
// GET /v1.0/me/memberOf: OData collections with "value", "@odata.type" per object and
// "@odata.nextLink" paging (the groups overage case), and 401 InvalidAuthenticationToken bodies.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/connectors/microsoft"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

const (
	callback = "https://gatehouse.example/callback/microsoft"
	contoso  = "11111111-2222-3333-4444-555555555555"
	fabrikam = "66666666-7777-8888-9999-000000000000"
)

// groupID is the object ID of Contoso's "Group i"; Graph spells object IDs in lower case.
func groupID(i int) string { return fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", i) }

// bensGroup is the object ID of the group Ben created in his own tenant.
const bensGroup = "bbbbbbbb-0000-4000-8000-000000000009"

type fakeMS struct {
	*fakeoauth.Server
	groups map[string][]map[string]any // user -> memberOf objects
}

func newFake(t *testing.T) *fakeMS {
	s := fakeoauth.New(t)
	f := &fakeMS{Server: s, groups: map[string][]map[string]any{}}
	users := map[string]map[string]any{
		"ann": {"tid": contoso, "oid": "oid-ann", "sub": "pairwise-ann", "email": "ann@contoso.test", "xms_edov": true, "name": "Ann", "preferred_username": "ann@contoso.test"},
		"ben": {"tid": fabrikam, "oid": "oid-ben", "sub": "pairwise-ben", "preferred_username": "ben@fabrikam.test"},
		"pat": {"tid": microsoft.ConsumersTenantID, "oid": "oid-pat", "sub": "pairwise-pat", "email": "pat@outlook.test"},
		"bad": {"tid": contoso, "oid": "oid-bad", "sub": "pairwise-bad", "iss-override": fabrikam},
		// A UPN is not an email address: xms_edov speaks for the email claim only.
		"upn": {"tid": contoso, "oid": "oid-upn", "sub": "pairwise-upn", "xms_edov": true, "preferred_username": "upn@contoso.test"},
	}
	var anns []map[string]any
	for i := range 7 {
		anns = append(anns, map[string]any{"@odata.type": "#microsoft.graph.group", "id": groupID(i), "displayName": fmt.Sprintf("Group %d", i)})
	}
	anns = append(anns, map[string]any{"@odata.type": "#microsoft.graph.directoryRole", "id": "r-1", "displayName": "Global Reader"})
	f.groups["ann"] = anns
	// Ben, in another tenant, created a group and named it like one of Contoso's.
	f.groups["ben"] = []map[string]any{{"@odata.type": "#microsoft.graph.group", "id": bensGroup, "displayName": "Group 6"}}
	s.IDClaims = func(user string) map[string]any {
		c := map[string]any{}
		for k, v := range users[user] {
			c[k] = v
		}
		tid := c["tid"].(string)
		if o, ok := c["iss-override"]; ok {
			tid = o.(string)
			delete(c, "iss-override")
		}
		c["iss"] = s.URL + "/" + tid + "/v2.0"
		return c
	}
	s.Issuer = s.URL + "/{tenantid}/v2.0"
	for _, tenant := range []string{"common", "organizations", "consumers"} {
		s.Handle("GET /"+tenant+"/v2.0/.well-known/openid-configuration", s.Discovery)
	}
	s.Handle("GET /"+contoso+"/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fakeoauth.JSON(w, 200, map[string]any{"issuer": s.URL + "/" + contoso + "/v2.0", "authorization_endpoint": s.URL + "/authorize",
			"token_endpoint": s.URL + "/token", "jwks_uri": s.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	s.Handle("GET /v1.0/me/memberOf", func(w http.ResponseWriter, r *http.Request) {
		user := s.User(r)
		if user == "" {
			fakeoauth.JSON(w, 401, map[string]any{"error": map[string]string{"code": "InvalidAuthenticationToken", "message": "Access token validation failure."}})
			return
		}
		if r.URL.Query().Get("$select") != "id,displayName" {
			http.Error(w, "want $select", 400)
			return
		}
		all := f.groups[user]
		skip, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
		end := min(skip+3, len(all))
		resp := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects", "value": all[skip:end]}
		if end < len(all) {
			next := *r.URL
			q := next.Query()
			q.Set("$skiptoken", strconv.Itoa(end))
			next.RawQuery = q.Encode()
			resp["@odata.nextLink"] = s.URL + next.RequestURI()
		}
		fakeoauth.JSON(w, 200, resp)
	})
	return f
}

func open(t *testing.T, f *fakeMS, cfg microsoft.Config) *oidc.Connector {
	t.Helper()
	cfg.ClientID, cfg.ClientSecret = f.ClientID, f.ClientSecret
	cfg.SetEndpoints(f.URL, f.URL)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "microsoft", Type: "microsoft", Name: "Microsoft"}, connectors.Deps{CallbackURL: callback})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*oidc.Connector)
}

func login(t *testing.T, f *fakeMS, c *oidc.Connector, user string, s connectors.Scopes) (url.Values, connectors.Upstream, error) {
	t.Helper()
	ctx := context.Background()
	step, err := c.Begin(ctx, connectors.BeginRequest{Scopes: s, CallbackURL: callback, State: "st"})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	u, _ := url.Parse(step.URL)
	up, err := c.Finish(ctx, connectors.FinishRequest{Scopes: s, CallbackURL: callback, State: "st", Stash: step.Stash}, httptest.NewRequest("GET", f.Authorize(t, step.URL, user), nil))
	return u.Query(), up, err
}

func TestLogin(t *testing.T) {
	var all []string
	for i := range 7 {
		all = append(all, groupID(i))
	}
	both := []string{contoso, fabrikam}
	tests := []struct {
		name         string
		cfg          microsoft.Config
		user         string
		groupsScope  bool
		wantGroups   []string
		wantEmail    string
		wantVerified bool
		wantDenied   bool
		wantErr      bool
	}{
		{name: "groups over three Graph pages", user: "ann", groupsScope: true, wantGroups: all, wantEmail: "ann@contoso.test", wantVerified: true},
		// Attack (issue 25.1): groups were emitted by display name, which any user chooses:
		// Ben's self-made "Group 6" reached tokens as Contoso's "Group 6". Object IDs are
		// the default now.
		{name: "groups are object IDs by default", user: "ben", groupsScope: true, cfg: microsoft.Config{AllowedTenants: both}, wantGroups: []string{bensGroup}, wantEmail: "ben@fabrikam.test"},
		{name: "required group by ID present", cfg: microsoft.Config{Groups: []string{strings.ToUpper(groupID(6)), groupID(99)}, AllowedTenants: both}, user: "ann", wantGroups: []string{groupID(6)}, wantEmail: "ann@contoso.test", wantVerified: true},
		{name: "a group named like the required one is not it", cfg: microsoft.Config{Groups: []string{groupID(6)}, AllowedTenants: both}, user: "ben", wantDenied: true},
		{name: "names in a single tenant, explicitly", cfg: microsoft.Config{Tenant: contoso, GroupNameFormat: "name", Groups: []string{"Group 6", "Nope"}}, user: "ann", wantGroups: []string{"Group 6"}, wantEmail: "ann@contoso.test", wantVerified: true},
		{name: "no groups asked", user: "ann", wantEmail: "ann@contoso.test", wantVerified: true},
		// Attack (issue 12.2): the UPN fallback was reported verified on the strength of
		// xms_edov, which is about the email claim's domain, not about a UPN.
		{name: "UPN fallback is not a verified email", user: "upn", wantEmail: "upn@contoso.test"},
		{name: "UPN fallback not verified even with insecure_skip_email_verified", cfg: microsoft.Config{InsecureSkipEmailVerified: true}, user: "upn", wantEmail: "upn@contoso.test"},
		{name: "organizations refuses personal accounts", cfg: microsoft.Config{Tenant: "organizations"}, user: "pat", wantDenied: true},
		{name: "consumers admits personal accounts", cfg: microsoft.Config{Tenant: "consumers"}, user: "pat", wantEmail: "pat@outlook.test"},
		{name: "allowed_tenants", cfg: microsoft.Config{AllowedTenants: []string{contoso}}, user: "ben", wantDenied: true},
		{name: "single tenant", cfg: microsoft.Config{Tenant: contoso}, user: "ann", wantEmail: "ann@contoso.test", wantVerified: true},
		{name: "single tenant refuses another tenant's token", cfg: microsoft.Config{Tenant: contoso}, user: "ben", wantErr: true},
		{name: "issuer not matching tid", user: "bad", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			q, up, err := login(t, f, open(t, f, tt.cfg), tt.user, connectors.Scopes{Groups: tt.groupsScope})
			wantGraph := tt.groupsScope || len(tt.cfg.Groups) > 0
			if got := strings.Contains(q.Get("scope"), "GroupMember.Read.All"); got != wantGraph {
				t.Errorf("scope %q: Graph permission asked = %v, want %v", q.Get("scope"), got, wantGraph)
			}
			var denied *connectors.DeniedError
			switch {
			case tt.wantDenied:
				if !errors.As(err, &denied) {
					t.Fatalf("err = %v, want DeniedError", err)
				}
				return
			case tt.wantErr:
				if err == nil || errors.As(err, &denied) {
					t.Fatalf("err = %v, want a verification error", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if !slices.Equal(up.Groups, tt.wantGroups) || up.Email != tt.wantEmail || up.EmailVerified != tt.wantVerified {
				t.Errorf("groups=%q email=%q verified=%v", up.Groups, up.Email, up.EmailVerified)
			}
			if !strings.HasPrefix(up.Subject, "oid-") {
				t.Errorf("subject %q, want the oid", up.Subject)
			}
		})
	}
}

func TestRefreshRereadsGroups(t *testing.T) {
	f := newFake(t)
	c := open(t, f, microsoft.Config{Groups: []string{groupID(0)}, AllowedTenants: []string{contoso}})
	_, up, err := login(t, f, c, "ann", connectors.Scopes{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prev := connectors.Upstream{Subject: up.Subject, Stash: up.Stash}
	if got, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); err != nil || !slices.Equal(got.Groups, []string{groupID(0)}) {
		t.Fatalf("Refresh: %v %v", got.Groups, err)
	}
	f.groups["ann"] = f.groups["ann"][1:] // removed from Group 0
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after leaving the group: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  microsoft.Config
		want string
	}{
		{"ok", microsoft.Config{ClientID: "a", ClientSecret: "b", Tenant: contoso}, ""},
		{"tenant domain name", microsoft.Config{ClientID: "a", ClientSecret: "b", Tenant: "contoso.onmicrosoft.com"}, "tenant"},
		{"allowed tenant", microsoft.Config{ClientID: "a", ClientSecret: "b", AllowedTenants: []string{"x"}}, "allowed_tenants[0]"},
		{"format", microsoft.Config{ClientID: "a", ClientSecret: "b", GroupNameFormat: "sid"}, "group_name_format"},
		// Attack (issue 25.1): on the multi-tenant endpoints any tenant's users sign in, and
		// any of them can create a group named (or, by ID, simply be in a group) of their own
		// tenant: a group requirement there needs allowed_tenants.
		{"groups on common without allowed_tenants", microsoft.Config{ClientID: "a", ClientSecret: "b", Groups: []string{groupID(1)}}, "allowed_tenants"},
		{"groups on organizations without allowed_tenants", microsoft.Config{ClientID: "a", ClientSecret: "b", Tenant: "organizations", Groups: []string{groupID(1)}}, "allowed_tenants"},
		{"groups on common with allowed_tenants", microsoft.Config{ClientID: "a", ClientSecret: "b", Groups: []string{groupID(1)}, AllowedTenants: []string{contoso}}, ""},
		// Attack (issue 25.1): display names match only inside one configured tenant.
		{"names on a multi-tenant endpoint", microsoft.Config{ClientID: "a", ClientSecret: "b", GroupNameFormat: "name", AllowedTenants: []string{contoso}}, "group_name_format"},
		{"names in one tenant", microsoft.Config{ClientID: "a", ClientSecret: "b", Tenant: contoso, GroupNameFormat: "name", Groups: []string{"Admins"}}, ""},
		{"display name where an ID is expected", microsoft.Config{ClientID: "a", ClientSecret: "b", Tenant: contoso, Groups: []string{"Admins"}}, "groups[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
