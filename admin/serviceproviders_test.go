package admin_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/crewjam/saml"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1/adminv1connect"
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
)

// spClient is the ServiceProviderService as the admin client.
func (e *env) spClient(t *testing.T) adminv1connect.ServiceProviderServiceClient {
	t.Helper()
	return adminv1connect.NewServiceProviderServiceClient(e.admin.Client(), e.admin.URL,
		bearer(e.clientToken(t, opsID, opsSecret, "gatehouse:admin")))
}

// spMetadata returns the metadata of a crewjam SP (a real SP's document) for entity base.
func spMetadata(t *testing.T, base string) string {
	t.Helper()
	key, cert, err := samlidp.LoadKeyFiles("../broker/samlidp/testdata/sp.pem", "../broker/samlidp/testdata/sp.pem")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := url.Parse(base + "/metadata")
	acs, _ := url.Parse(base + "/acs")
	slo, _ := url.Parse(base + "/slo")
	sp := saml.ServiceProvider{EntityID: md.String(), Key: key, Certificate: cert, MetadataURL: *md, AcsURL: *acs, SloURL: *slo}
	b, err := xml.Marshal(sp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServiceProviderLifecycle(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	api := e.spClient(t)
	md := spMetadata(t, "https://wiki.example.com")
	created, err := api.CreateServiceProvider(ctx, connect.NewRequest(&adminv1.CreateServiceProviderRequest{ServiceProvider: &adminv1.ServiceProvider{
		Id: "wiki", Name: "Wiki", Metadata: md, NameIdFormat: "transient", Attributes: map[string]string{"mail": "email"}}}))
	if err != nil {
		t.Fatal(err)
	}
	got := created.Msg.GetServiceProvider()
	if got.GetEntityId() != "https://wiki.example.com/metadata" || got.GetVersion() != 1 || got.GetSource() != "api" ||
		!got.GetSignResponse() || !got.GetSignAssertion() {
		t.Fatalf("created %v", got)
	}
	// metadata_url is fetched once, at create time; the entity ID comes from the document.
	served := spMetadata(t, "http://127.0.0.1:1")
	mdSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(served)) }))
	defer mdSrv.Close()
	fetched, err := api.CreateServiceProvider(ctx, connect.NewRequest(&adminv1.CreateServiceProviderRequest{ServiceProvider: &adminv1.ServiceProvider{
		Id: "fetched", MetadataUrl: mdSrv.URL + "/md"}}))
	if err != nil || fetched.Msg.GetServiceProvider().GetMetadata() != served || fetched.Msg.GetServiceProvider().GetEntityId() != "http://127.0.0.1:1/metadata" {
		t.Fatalf("created from metadata_url: %v %v", fetched, err)
	}

	list, err := api.ListServiceProviders(ctx, connect.NewRequest(&adminv1.ListServiceProvidersRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, sp := range list.Msg.GetServiceProviders() {
		ids = append(ids, sp.GetId()+":"+sp.GetSource())
	}
	if strings.Join(ids, ",") != "cfg-sp:config,fetched:api,wiki:api" {
		t.Fatalf("list = %v", ids)
	}

	// Updates name the version they read; a stale one is refused and changes nothing.
	upd := &adminv1.ServiceProvider{Id: "wiki", Name: "Team Wiki", Version: 1}
	res, err := api.UpdateServiceProvider(ctx, connect.NewRequest(&adminv1.UpdateServiceProviderRequest{ServiceProvider: upd, UpdateMask: []string{"name"}}))
	if err != nil || res.Msg.GetServiceProvider().GetName() != "Team Wiki" || res.Msg.GetServiceProvider().GetVersion() != 2 ||
		res.Msg.GetServiceProvider().GetNameIdFormat() != "transient" {
		t.Fatalf("update: %v %v", res, err)
	}
	upd.Name = "Stale"
	_, err = api.UpdateServiceProvider(ctx, connect.NewRequest(&adminv1.UpdateServiceProviderRequest{ServiceProvider: upd, UpdateMask: []string{"name"}}))
	wantCode(t, "stale version", err, connect.CodeFailedPrecondition, "service_provider.version")
	one, err := api.GetServiceProvider(ctx, connect.NewRequest(&adminv1.GetServiceProviderRequest{Id: "wiki"}))
	if err != nil || one.Msg.GetServiceProvider().GetName() != "Team Wiki" || one.Msg.GetServiceProvider().GetMetadata() != md {
		t.Fatalf("get after a stale update: %v %v", one, err)
	}
	if one, err := api.GetServiceProvider(ctx, connect.NewRequest(&adminv1.GetServiceProviderRequest{Id: cfgSPID})); err != nil ||
		one.Msg.GetServiceProvider().GetSource() != "config" || one.Msg.GetServiceProvider().GetEntityId() != cfgSPEntity {
		t.Fatalf("get a configured SP: %v %v", one, err)
	}

	if _, err := api.DeleteServiceProvider(ctx, connect.NewRequest(&adminv1.DeleteServiceProviderRequest{Id: "wiki"})); err != nil {
		t.Fatal(err)
	}
	_, err = api.GetServiceProvider(ctx, connect.NewRequest(&adminv1.GetServiceProviderRequest{Id: "wiki"}))
	wantCode(t, "get deleted", err, connect.CodeNotFound, "id")
	_, err = api.DeleteServiceProvider(ctx, connect.NewRequest(&adminv1.DeleteServiceProviderRequest{Id: "wiki"}))
	wantCode(t, "delete again", err, connect.CodeNotFound, "id")

	// Every change is an audit event naming the admin client and the SP.
	events, err := e.services(t).audit.ListAuditEvents(ctx, connect.NewRequest(&adminv1.ListAuditEventsRequest{Limit: 100}))
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, ev := range events.Msg.GetEvents() {
		if strings.HasPrefix(ev.GetType(), "admin.service_provider.") && ev.GetClientId() == opsID {
			changes = append(changes, strings.TrimPrefix(ev.GetType(), "admin.service_provider.")+":"+ev.GetDetail()["target"]+":"+ev.GetOutcome())
		}
	}
	// Compared as a set: events of one millisecond have no defined order in the listing.
	want := []string{"create:fetched:success", "create:wiki:success", "delete:wiki:error", "delete:wiki:success", "update:wiki:success"}
	slices.Sort(changes)
	if !slices.Equal(changes, want) {
		t.Fatalf("audit = %v, want %s", changes, want)
	}
}

// TestServiceProviderBadInput: every refusal names the field, with invalid_argument,
// already_exists or failed_precondition; nothing is written.
func TestServiceProviderBadInput(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	api := e.spClient(t)
	md := spMetadata(t, "https://wiki.example.com")
	if _, err := api.CreateServiceProvider(ctx, connect.NewRequest(&adminv1.CreateServiceProviderRequest{ServiceProvider: &adminv1.ServiceProvider{Id: "wiki", Metadata: md}})); err != nil {
		t.Fatal(err)
	}
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	no := false
	long := strings.Repeat("x", 300)
	many := map[string]string{}
	for i := range 65 {
		many["attr"+strings.Repeat("a", i)] = "email"
	}
	other := spMetadata(t, "https://other.example.com")
	bad := []struct {
		name  string
		sp    *adminv1.ServiceProvider
		code  connect.Code
		field string
	}{
		{"no service provider", nil, connect.CodeInvalidArgument, "service_provider"},
		{"bad id", &adminv1.ServiceProvider{Id: "Bad ID", Metadata: other}, connect.CodeInvalidArgument, "service_provider.id"},
		{"no id", &adminv1.ServiceProvider{Metadata: other}, connect.CodeInvalidArgument, "service_provider.id"},
		{"no metadata", &adminv1.ServiceProvider{Id: "other"}, connect.CodeInvalidArgument, "service_provider"},
		{"invalid metadata", &adminv1.ServiceProvider{Id: "other", Metadata: "<EntityDescriptor"}, connect.CodeInvalidArgument, "service_provider.metadata"},
		{"IdP metadata", &adminv1.ServiceProvider{Id: "other", Metadata: `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:x"/>`},
			connect.CodeInvalidArgument, "service_provider.metadata"},
		{"metadata of another entity", &adminv1.ServiceProvider{Id: "other", Metadata: other, EntityId: "urn:someone-else"}, connect.CodeInvalidArgument, "service_provider.metadata"},
		{"metadata and metadata_url", &adminv1.ServiceProvider{Id: "other", Metadata: other, MetadataUrl: "https://x.example.com/md"}, connect.CodeInvalidArgument, "service_provider.metadata_url"},
		{"metadata_url not http", &adminv1.ServiceProvider{Id: "other", MetadataUrl: "file:///etc/passwd"}, connect.CodeInvalidArgument, "service_provider.metadata_url"},
		{"metadata_url plain http", &adminv1.ServiceProvider{Id: "other", MetadataUrl: "http://sp.example.com/md"}, connect.CodeInvalidArgument, "service_provider.metadata_url"},
		{"metadata_url 404", &adminv1.ServiceProvider{Id: "other", MetadataUrl: notFound.URL}, connect.CodeInvalidArgument, "service_provider.metadata_url"},
		{"acs_url without entity_id", &adminv1.ServiceProvider{Id: "other", AcsUrl: "https://o.example.com/acs"}, connect.CodeInvalidArgument, "service_provider.entity_id"},
		{"bad acs_url", &adminv1.ServiceProvider{Id: "other", EntityId: "urn:o", AcsUrl: "javascript:alert(1)"}, connect.CodeInvalidArgument, "service_provider.acs_url"},
		{"slo_url with metadata", &adminv1.ServiceProvider{Id: "other", Metadata: other, SloUrl: "https://o.example.com/slo"}, connect.CodeInvalidArgument, "service_provider.slo_url"},
		{"bad cert_pem", &adminv1.ServiceProvider{Id: "other", EntityId: "urn:o", AcsUrl: "https://o.example.com/acs", CertPem: "not a cert"}, connect.CodeInvalidArgument, "service_provider.cert_pem"},
		{"encrypt without a cert", &adminv1.ServiceProvider{Id: "other", EntityId: "urn:o", AcsUrl: "https://o.example.com/acs", EncryptAssertion: true}, connect.CodeInvalidArgument, "service_provider.cert_pem"},
		{"nothing signed", &adminv1.ServiceProvider{Id: "other", Metadata: other, SignResponse: &no, SignAssertion: &no}, connect.CodeInvalidArgument, "service_provider"},
		{"bad name_id_format", &adminv1.ServiceProvider{Id: "other", Metadata: other, NameIdFormat: "unspecified"}, connect.CodeInvalidArgument, "service_provider.name_id_format"},
		{"bad attribute claim", &adminv1.ServiceProvider{Id: "other", Metadata: other, Attributes: map[string]string{"mail": "e mail"}}, connect.CodeInvalidArgument, "service_provider.attributes.mail"},
		{"unknown connector", &adminv1.ServiceProvider{Id: "other", Metadata: other, AllowedConnectors: []string{"nope"}}, connect.CodeInvalidArgument, "service_provider.allowed_connectors[0]"},
		{"oversized name", &adminv1.ServiceProvider{Id: "other", Metadata: other, Name: long}, connect.CodeInvalidArgument, "service_provider.name"},
		{"oversized entity_id", &adminv1.ServiceProvider{Id: "other", EntityId: strings.Repeat("u", 1100), AcsUrl: "https://o.example.com/acs"}, connect.CodeInvalidArgument, "service_provider.entity_id"},
		{"too many attributes", &adminv1.ServiceProvider{Id: "other", Metadata: other, Attributes: many}, connect.CodeInvalidArgument, "service_provider.attributes"},
		{"duplicate id", &adminv1.ServiceProvider{Id: "wiki", Metadata: other}, connect.CodeAlreadyExists, "service_provider.id"},
		{"duplicate entity ID", &adminv1.ServiceProvider{Id: "other", Metadata: md}, connect.CodeAlreadyExists, "service_provider.entity_id"},
		{"a configured SP's id", &adminv1.ServiceProvider{Id: cfgSPID, Metadata: other}, connect.CodeAlreadyExists, "service_provider.id"},
		{"a configured SP's entity ID", &adminv1.ServiceProvider{Id: "other", EntityId: cfgSPEntity, AcsUrl: "https://o.example.com/acs"}, connect.CodeAlreadyExists, "service_provider.entity_id"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.CreateServiceProvider(ctx, connect.NewRequest(&adminv1.CreateServiceProviderRequest{ServiceProvider: tt.sp}))
			wantCode(t, tt.name, err, tt.code, tt.field)
		})
	}
	list, err := api.ListServiceProviders(ctx, connect.NewRequest(&adminv1.ListServiceProvidersRequest{}))
	if err != nil || len(list.Msg.GetServiceProviders()) != 2 {
		t.Fatalf("after refused creates: %v %v (want cfg-sp and wiki only)", list, err)
	}

	updates := []struct {
		name  string
		req   *adminv1.UpdateServiceProviderRequest
		code  connect.Code
		field string
	}{
		{"a configured SP", &adminv1.UpdateServiceProviderRequest{ServiceProvider: &adminv1.ServiceProvider{Id: cfgSPID, Version: 1}}, connect.CodeFailedPrecondition, "service_provider.source"},
		{"no version", &adminv1.UpdateServiceProviderRequest{ServiceProvider: &adminv1.ServiceProvider{Id: "wiki", Name: "x"}, UpdateMask: []string{"name"}}, connect.CodeInvalidArgument, "service_provider.version"},
		{"unknown mask field", &adminv1.UpdateServiceProviderRequest{ServiceProvider: &adminv1.ServiceProvider{Id: "wiki", Version: 1}, UpdateMask: []string{"id"}}, connect.CodeInvalidArgument, "update_mask[0]"},
		{"missing SP", &adminv1.UpdateServiceProviderRequest{ServiceProvider: &adminv1.ServiceProvider{Id: "nobody", Version: 1}}, connect.CodeNotFound, "service_provider.id"},
		{"invalid metadata", &adminv1.UpdateServiceProviderRequest{ServiceProvider: &adminv1.ServiceProvider{Id: "wiki", Version: 1, Metadata: "<x/>"}, UpdateMask: []string{"metadata"}},
			connect.CodeInvalidArgument, "service_provider.metadata"},
		{"a configured SP's entity ID", &adminv1.UpdateServiceProviderRequest{ServiceProvider: &adminv1.ServiceProvider{Id: "wiki", Version: 1, EntityId: cfgSPEntity, AcsUrl: "https://o.example.com/acs"},
			UpdateMask: []string{"metadata"}}, connect.CodeAlreadyExists, "service_provider.entity_id"},
	}
	for _, tt := range updates {
		t.Run("update "+tt.name, func(t *testing.T) {
			_, err := api.UpdateServiceProvider(ctx, connect.NewRequest(tt.req))
			wantCode(t, tt.name, err, tt.code, tt.field)
		})
	}
	_, err = api.DeleteServiceProvider(ctx, connect.NewRequest(&adminv1.DeleteServiceProviderRequest{Id: cfgSPID}))
	wantCode(t, "delete a configured SP", err, connect.CodeFailedPrecondition, "service_provider.source")
	got, err := api.GetServiceProvider(ctx, connect.NewRequest(&adminv1.GetServiceProviderRequest{Id: "wiki"}))
	if err != nil || got.Msg.GetServiceProvider().GetVersion() != 1 || got.Msg.GetServiceProvider().GetMetadata() != md {
		t.Fatalf("wiki after refused updates: %v %v", got, err)
	}
}
