package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Limits of a service provider's fields through the API.
const (
	maxSPMetadataBytes = 256 << 10 // a fetched metadata_url document (an inline one is within MaxRequestBytes)
	maxEntityIDLen     = 1024
	maxCertPEMLen      = 16 << 10
	maxAttributes      = 64
	metadataFetchTime  = 10 * time.Second
)

// spMetadataFields are the update_mask names of the fields that say where the metadata is;
// naming one replaces them all.
var spMetadataFields = []string{"metadata", "metadata_url", "entity_id", "acs_url", "slo_url", "cert_pem"}

// spUpdatableFields are the ServiceProvider fields UpdateServiceProvider may replace.
var spUpdatableFields = append([]string{"name", "name_id_format", "attributes", "sign_response", "sign_assertion",
	"encrypt_assertion", "allowed_connectors", "trusted", "mfa_classes"}, spMetadataFields...)

// spService implements adminv1connect.ServiceProviderServiceHandler.
type spService struct{ s *Server }

// CreateServiceProvider validates (metadata parsed with crewjam/saml) and stores a new SP.
func (ss *spService) CreateServiceProvider(ctx context.Context, req *connect.Request[adminv1.CreateServiceProviderRequest]) (*connect.Response[adminv1.CreateServiceProviderResponse], error) {
	if err := ss.enabled(); err != nil {
		return nil, err
	}
	in := req.Msg.GetServiceProvider()
	if in == nil {
		return nil, invalidArg("service_provider", "is required")
	}
	sp := spFromProto(in)
	if err := ss.resolveMetadata(ctx, &sp); err != nil {
		return nil, err
	}
	if err := ss.validate(sp); err != nil {
		return nil, err
	}
	if err := ss.notConfigured(sp, connect.CodeAlreadyExists); err != nil {
		return nil, err
	}
	now := ss.s.d.Now().UTC().Truncate(time.Millisecond) // as stored
	sp.CreatedAt, sp.UpdatedAt, sp.Version = now, now, 1
	err := ss.s.d.SPStore.CreateServiceProvider(ctx, sp)
	ss.s.record(ctx, "service_provider.create", sp.ID, err)
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil, ss.duplicate(ctx, sp)
	}
	if err != nil {
		return nil, ss.s.internal(ctx, "create service provider", err)
	}
	return connect.NewResponse(&adminv1.CreateServiceProviderResponse{ServiceProvider: spToProto(sp)}), nil
}

// GetServiceProvider returns a configured or stored SP.
func (ss *spService) GetServiceProvider(ctx context.Context, req *connect.Request[adminv1.GetServiceProviderRequest]) (*connect.Response[adminv1.GetServiceProviderResponse], error) {
	if err := ss.enabled(); err != nil {
		return nil, err
	}
	if c := ss.s.d.SAML.ServiceProvider(req.Msg.GetId()); c != nil {
		return connect.NewResponse(&adminv1.GetServiceProviderResponse{ServiceProvider: configSPToProto(c)}), nil
	}
	sp, err := ss.stored(ctx, "id", req.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&adminv1.GetServiceProviderResponse{ServiceProvider: spToProto(sp)}), nil
}

// ListServiceProviders returns the configured SPs (in configuration order), then the stored
// ones (by ID).
func (ss *spService) ListServiceProviders(ctx context.Context, _ *connect.Request[adminv1.ListServiceProvidersRequest]) (*connect.Response[adminv1.ListServiceProvidersResponse], error) {
	if err := ss.enabled(); err != nil {
		return nil, err
	}
	out := &adminv1.ListServiceProvidersResponse{}
	for _, c := range ss.s.d.SAML.ServiceProviders() {
		out.ServiceProviders = append(out.ServiceProviders, configSPToProto(c))
	}
	stored, err := ss.s.d.SPStore.ListServiceProviders(ctx)
	if err != nil {
		return nil, ss.s.internal(ctx, "list service providers", err)
	}
	for _, sp := range stored {
		if ss.s.d.SAML.ServiceProvider(sp.ID) == nil { // a configured SP hides a stored one
			out.ServiceProviders = append(out.ServiceProviders, spToProto(sp))
		}
	}
	return connect.NewResponse(out), nil
}

// UpdateServiceProvider replaces the masked fields of a stored SP, validated as a whole, if
// its version is still the one the caller read (checked by the store in the same statement).
func (ss *spService) UpdateServiceProvider(ctx context.Context, req *connect.Request[adminv1.UpdateServiceProviderRequest]) (*connect.Response[adminv1.UpdateServiceProviderResponse], error) {
	if err := ss.enabled(); err != nil {
		return nil, err
	}
	in := req.Msg.GetServiceProvider()
	if in == nil {
		return nil, invalidArg("service_provider", "is required")
	}
	mask, err := spMask(req.Msg.GetUpdateMask())
	if err != nil {
		return nil, err
	}
	if err := ss.readOnly(in.GetId()); err != nil {
		return nil, err
	}
	if in.GetVersion() <= 0 {
		return nil, invalidArg("service_provider.version", "is required: the version read, so that a change made since is not overwritten")
	}
	sp, err := ss.stored(ctx, "service_provider.id", in.GetId())
	if err != nil {
		return nil, err
	}
	if sp.Version != in.GetVersion() {
		return nil, versionConflict(in.GetVersion(), sp.Version)
	}
	upd := spFromProto(in)
	applySPMask(&sp, upd, in, mask)
	if slices.ContainsFunc(mask, func(f string) bool { return slices.Contains(spMetadataFields, f) }) {
		if err := ss.resolveMetadata(ctx, &sp); err != nil {
			return nil, err
		}
	}
	if err := ss.validate(sp); err != nil {
		return nil, err
	}
	if err := ss.notConfigured(sp, connect.CodeAlreadyExists); err != nil {
		return nil, err
	}
	sp.UpdatedAt = ss.s.d.Now().UTC().Truncate(time.Millisecond)
	err = ss.s.d.SPStore.UpdateServiceProvider(ctx, sp)
	ss.s.record(ctx, "service_provider.update", sp.ID, err)
	switch {
	case errors.Is(err, storage.ErrConflict):
		return nil, versionConflict(in.GetVersion(), 0)
	case errors.Is(err, storage.ErrAlreadyExists):
		return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("service_provider.entity_id: another service provider has entity ID %q", clip(sp.EntityID)))
	case err != nil:
		return nil, ss.storeErr(ctx, "service_provider.id", "update service provider", err)
	}
	sp.Version++
	return connect.NewResponse(&adminv1.UpdateServiceProviderResponse{ServiceProvider: spToProto(sp)}), nil
}

// DeleteServiceProvider deletes a stored SP (and the consents given to it); it is refused at
// once on every replica.
func (ss *spService) DeleteServiceProvider(ctx context.Context, req *connect.Request[adminv1.DeleteServiceProviderRequest]) (*connect.Response[adminv1.DeleteServiceProviderResponse], error) {
	if err := ss.enabled(); err != nil {
		return nil, err
	}
	id := req.Msg.GetId()
	if err := ss.readOnly(id); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, invalidArg("id", "is required")
	}
	err := ss.s.d.SPStore.DeleteServiceProvider(ctx, id)
	ss.s.record(ctx, "service_provider.delete", id, err)
	if err != nil {
		return nil, ss.storeErr(ctx, "id", "delete service provider", err)
	}
	return connect.NewResponse(&adminv1.DeleteServiceProviderResponse{}), nil
}

// duplicate is the already_exists of a create the store refused: the ID is taken, or else
// the entity ID.
func (ss *spService) duplicate(ctx context.Context, sp storage.ServiceProvider) error {
	_, err := ss.s.d.SPStore.GetServiceProvider(ctx, sp.ID)
	switch {
	case err == nil:
		return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("service_provider.id: a service provider %q exists", sp.ID))
	case errors.Is(err, storage.ErrNotFound):
		return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("service_provider.entity_id: another service provider has entity ID %q", clip(sp.EntityID)))
	}
	return ss.s.internal(ctx, "create service provider", err)
}

// enabled refuses the service when there is no SAML IdP or no store for SPs.
func (ss *spService) enabled() error {
	if ss.s.d.SAML == nil || ss.s.d.SPStore == nil {
		return connect.NewError(connect.CodeFailedPrecondition,
			errors.New("service providers: the SAML identity provider is off or the storage backend cannot store service providers"))
	}
	return nil
}

// readOnly refuses a change to an SP of the configuration.
func (ss *spService) readOnly(id string) error {
	if ss.s.d.SAML.ServiceProvider(id) != nil {
		return connect.NewError(connect.CodeFailedPrecondition,
			fmt.Errorf("service_provider.source: service provider %q comes from the configuration (source: config) and is read-only; change it in the config file", clip(id)))
	}
	return nil
}

// notConfigured refuses an SP whose ID or entity ID is a configured SP's.
func (ss *spService) notConfigured(sp storage.ServiceProvider, code connect.Code) error {
	if ss.s.d.SAML.ServiceProvider(sp.ID) != nil {
		return connect.NewError(code, fmt.Errorf("service_provider.id: %q is a service provider of the configuration", sp.ID))
	}
	for _, c := range ss.s.d.SAML.ServiceProviders() {
		if c.EntityID() == sp.EntityID {
			return connect.NewError(code, fmt.Errorf("service_provider.entity_id: %q is the entity ID of service provider %s of the configuration", clip(sp.EntityID), c.ID))
		}
	}
	return nil
}

// stored reads a stored SP; field names the request field carrying the ID.
func (ss *spService) stored(ctx context.Context, field, id string) (storage.ServiceProvider, error) {
	if id == "" {
		return storage.ServiceProvider{}, invalidArg(field, "is required")
	}
	sp, err := ss.s.d.SPStore.GetServiceProvider(ctx, id)
	if err != nil {
		return sp, ss.storeErr(ctx, field, "get service provider", err)
	}
	return sp, nil
}

// storeErr maps a storage error: not found names the field; anything else is internal.
func (ss *spService) storeErr(ctx context.Context, field, what string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("%s: no such service provider", field))
	}
	return ss.s.internal(ctx, what, err)
}

// versionConflict is the failed_precondition of an update from a stale version (stored 0:
// not known, the store refused it).
func versionConflict(read, stored int64) error {
	msg := fmt.Sprintf("service_provider.version: %d is not the current version", read)
	if stored > 0 {
		msg += fmt.Sprintf(" (%d): the service provider changed since it was read; get it again", stored)
	}
	return connect.NewError(connect.CodeFailedPrecondition, errors.New(msg))
}

// spMask checks an update mask; empty is every updatable field.
func spMask(mask []string) ([]string, error) {
	for i, f := range mask {
		if !slices.Contains(spUpdatableFields, f) {
			return nil, invalidArg(fmt.Sprintf("update_mask[%d]", i), "%q is not an updatable field (one of %s)", clip(f), strings.Join(spUpdatableFields, ", "))
		}
	}
	if len(mask) == 0 {
		return spUpdatableFields, nil
	}
	return mask, nil
}

// applySPMask copies the masked fields of in onto sp; the metadata fields go together.
// raw tells the optional booleans that were not sent (they keep their default, true).
func applySPMask(sp *storage.ServiceProvider, in storage.ServiceProvider, raw *adminv1.ServiceProvider, mask []string) {
	for _, f := range mask {
		switch f {
		case "name":
			sp.Name = in.Name
		case "name_id_format":
			sp.NameIDFormat = in.NameIDFormat
		case "attributes":
			sp.Attributes = in.Attributes
		case "sign_response":
			sp.SignResponse = raw.SignResponse == nil || raw.GetSignResponse()
		case "sign_assertion":
			sp.SignAssertion = raw.SignAssertion == nil || raw.GetSignAssertion()
		case "encrypt_assertion":
			sp.EncryptAssertion = in.EncryptAssertion
		case "allowed_connectors":
			sp.AllowedConnectors = in.AllowedConnectors
		case "trusted":
			sp.Trusted = in.Trusted
		case "mfa_classes":
			sp.MFAClasses = in.MFAClasses
		default: // a metadata field
			sp.MetadataXML, sp.MetadataURL, sp.EntityID = in.MetadataXML, in.MetadataURL, in.EntityID
			sp.ACSURL, sp.SLOURL, sp.CertPEM = in.ACSURL, in.SLOURL, in.CertPEM
		}
	}
}

// resolveMetadata fetches metadata_url (once, now) into the SP's metadata and reads the
// entity ID from the metadata when it is not given.
func (ss *spService) resolveMetadata(ctx context.Context, sp *storage.ServiceProvider) error {
	if sp.MetadataURL != "" {
		if sp.MetadataXML != "" {
			return invalidArg("service_provider.metadata_url", "give metadata or metadata_url, not both")
		}
		probe := config.ServiceProvider{ID: "probe", MetadataURL: sp.MetadataURL, EntityID: "probe"}
		if errs := config.ValidateServiceProvider(probe, nil); errs != nil {
			return invalidArg("service_provider.metadata_url", "%s", errs.Problems[0].Message)
		}
		data, err := ss.fetchMetadata(ctx, sp.MetadataURL)
		if err != nil {
			return invalidArg("service_provider.metadata_url", "%v", err)
		}
		sp.MetadataXML = string(data)
	}
	if sp.MetadataXML != "" && sp.EntityID == "" {
		id, err := samlidp.EntityIDOf([]byte(sp.MetadataXML))
		if err != nil {
			return invalidArg("service_provider.metadata", "%v", err)
		}
		sp.EntityID = id
	}
	return nil
}

// fetchMetadata GETs an SP's metadata document, bounded in time and size.
func (ss *spService) fetchMetadata(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, metadataFetchTime)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := ss.s.d.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch: %s answered %s", clip(u), resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSPMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	if len(data) > maxSPMetadataBytes {
		return nil, fmt.Errorf("fetch: the document is larger than %d bytes", maxSPMetadataBytes)
	}
	return data, nil
}

// validate checks sizes, then the configuration's rules for service_providers
// (config.ValidateServiceProvider), then parses the metadata and certificate as the IdP will
// (samlidp.FromStored).
func (ss *spService) validate(sp storage.ServiceProvider) error {
	if err := spSizes(sp); err != nil {
		return err
	}
	if errs := config.ValidateServiceProvider(samlidp.ConfigOf(sp), ss.s.d.ConnectorIDs); errs != nil {
		p := errs.Problems[0]
		return invalidArg(spFieldName(p.Path), "%s", p.Message)
	}
	if _, err := samlidp.FromStored(sp, ss.s.d.Now); err != nil {
		field := "service_provider"
		switch {
		case strings.HasPrefix(err.Error(), "cert_pem:"):
			field = "service_provider.cert_pem"
		case sp.MetadataXML != "":
			field = "service_provider.metadata"
		case sp.EncryptAssertion:
			field = "service_provider.encrypt_assertion"
		}
		return invalidArg(field, "%v", err)
	}
	return nil
}

// spFieldName maps a configuration key path of a service provider to the API's field names.
func spFieldName(path string) string {
	switch path {
	case "":
		return "service_provider"
	case "metadata_file":
		return "service_provider.metadata"
	case "cert":
		return "service_provider.cert_pem"
	}
	return "service_provider." + path
}

// spSizes bounds every field of an SP.
func spSizes(sp storage.ServiceProvider) error {
	strs := []struct {
		field string
		val   string
		max   int
	}{
		{"name", sp.Name, maxNameLen}, {"entity_id", sp.EntityID, maxEntityIDLen}, {"acs_url", sp.ACSURL, maxStringLen},
		{"slo_url", sp.SLOURL, maxStringLen}, {"metadata_url", sp.MetadataURL, maxStringLen}, {"cert_pem", sp.CertPEM, maxCertPEMLen},
		{"metadata", sp.MetadataXML, maxSPMetadataBytes}, {"name_id_format", sp.NameIDFormat, maxNameLen},
	}
	for _, s := range strs {
		if len(s.val) > s.max {
			return invalidArg("service_provider."+s.field, "is longer than %d bytes", s.max)
		}
	}
	if len(sp.Attributes) > maxAttributes {
		return invalidArg("service_provider.attributes", "has more than %d entries", maxAttributes)
	}
	for _, k := range slices.Sorted(maps.Keys(sp.Attributes)) {
		if len(k) > maxNameLen || len(sp.Attributes[k]) > maxNameLen {
			return invalidArg("service_provider.attributes", "an attribute name or claim is longer than %d bytes", maxNameLen)
		}
	}
	for _, l := range []struct {
		field string
		vals  []string
	}{{"allowed_connectors", sp.AllowedConnectors}, {"mfa_classes", sp.MFAClasses}} {
		if len(l.vals) > maxListLen {
			return invalidArg("service_provider."+l.field, "has more than %d entries", maxListLen)
		}
		for i, v := range l.vals {
			if len(v) > maxStringLen {
				return invalidArg(fmt.Sprintf("service_provider.%s[%d]", l.field, i), "is longer than %d bytes", maxStringLen)
			}
		}
	}
	return nil
}

func spFromProto(p *adminv1.ServiceProvider) storage.ServiceProvider {
	return storage.ServiceProvider{
		ID: p.GetId(), Name: p.GetName(), EntityID: p.GetEntityId(), MetadataXML: p.GetMetadata(), MetadataURL: p.GetMetadataUrl(),
		ACSURL: p.GetAcsUrl(), SLOURL: p.GetSloUrl(), CertPEM: p.GetCertPem(), NameIDFormat: p.GetNameIdFormat(),
		Attributes: p.GetAttributes(), SignResponse: p.SignResponse == nil || p.GetSignResponse(),
		SignAssertion: p.SignAssertion == nil || p.GetSignAssertion(), EncryptAssertion: p.GetEncryptAssertion(),
		AllowedConnectors: p.GetAllowedConnectors(), Trusted: p.GetTrusted(), MFAClasses: p.GetMfaClasses(),
	}
}

func spToProto(sp storage.ServiceProvider) *adminv1.ServiceProvider {
	signResp, signAssert := sp.SignResponse, sp.SignAssertion
	return &adminv1.ServiceProvider{
		Id: sp.ID, Name: sp.Name, EntityId: sp.EntityID, Metadata: sp.MetadataXML, MetadataUrl: sp.MetadataURL,
		AcsUrl: sp.ACSURL, SloUrl: sp.SLOURL, CertPem: sp.CertPEM, NameIdFormat: sp.NameIDFormat, Attributes: sp.Attributes,
		SignResponse: &signResp, SignAssertion: &signAssert, EncryptAssertion: sp.EncryptAssertion,
		AllowedConnectors: sp.AllowedConnectors, Trusted: sp.Trusted, MfaClasses: sp.MFAClasses,
		Source: clients.SourceAPI, Version: sp.Version,
		CreateTime: timestamppb.New(sp.CreatedAt), UpdateTime: timestamppb.New(sp.UpdatedAt),
	}
}

func configSPToProto(c *samlidp.ServiceProvider) *adminv1.ServiceProvider {
	signResp, signAssert := c.SignResponse, c.SignAssertion
	return &adminv1.ServiceProvider{
		Id: c.ID, Name: c.Name, EntityId: c.EntityID(), NameIdFormat: c.NameIDFormat, Attributes: c.Attributes,
		SignResponse: &signResp, SignAssertion: &signAssert, EncryptAssertion: c.EncryptAssertion,
		AllowedConnectors: c.AllowedConnectors, Trusted: c.Trusted, MfaClasses: c.MFAClasses, Source: clients.SourceConfig,
	}
}
