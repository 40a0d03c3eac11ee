package storage

import (
	"context"
	"time"
)

// ServiceProvider is a SAML 2.0 service provider registered at runtime (through the admin
// API). Service providers from the configuration are not stored: they overlay the stored
// ones, read-only. Its fields are those of a configured one (config.ServiceProvider), with the
// metadata kept inline: MetadataXML (given, or fetched from MetadataURL when it was created or
// updated), or EntityID with ACSURL (and SLOURL, CertPEM).
type ServiceProvider struct {
	// ID names the SP in URLs and logs; its pseudo-client is "saml:<ID>".
	ID   string
	Name string
	// EntityID is the SP's entity ID, unique among the stored SPs.
	EntityID string
	// MetadataXML is the SP's metadata document; "" when it is described by ACSURL.
	MetadataXML string
	// MetadataURL is where MetadataXML was fetched from ("" when it was given inline).
	MetadataURL string
	// ACSURL, SLOURL and CertPEM describe an SP without metadata.
	ACSURL  string
	SLOURL  string
	CertPEM string
	// NameIDFormat is persistent, emailAddress or transient ("" is persistent).
	NameIDFormat string
	// Attributes maps a SAML attribute name to a Gatehouse claim.
	Attributes map[string]string
	// SignResponse and SignAssertion say what is signed (at least one).
	SignResponse     bool
	SignAssertion    bool
	EncryptAssertion bool
	// AllowedConnectors limits the connectors its users may log in with (empty: all).
	AllowedConnectors []string
	Trusted           bool
	// MFAClasses are AuthnContextClassRefs the SP asks for to mean multi-factor.
	MFAClasses []string
	// Version counts the changes: 1 at creation, one more at each update. An update names the
	// version it read; the store refuses it with ErrConflict when another came between.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ServiceProviderStore keeps runtime SAML service providers. It is optional; the SQLite and
// PostgreSQL backends implement it (storagetest.RunServiceProviders).
type ServiceProviderStore interface {
	// CreateServiceProvider stores sp with Version 1; an ID or entity ID already stored is
	// ErrAlreadyExists (nothing is written).
	CreateServiceProvider(ctx context.Context, sp ServiceProvider) error
	// GetServiceProvider returns the SP; ErrNotFound when there is none.
	GetServiceProvider(ctx context.Context, id string) (ServiceProvider, error)
	// GetServiceProviderByEntityID returns the SP with exactly this entity ID; ErrNotFound
	// when there is none.
	GetServiceProviderByEntityID(ctx context.Context, entityID string) (ServiceProvider, error)
	// ListServiceProviders returns every stored SP, ordered by ID.
	ListServiceProviders(ctx context.Context) ([]ServiceProvider, error)
	// UpdateServiceProvider replaces every field of the stored SP sp.ID but CreatedAt, in one
	// statement, if its version is still sp.Version, and makes it sp.Version+1. ErrNotFound
	// when there is none, ErrConflict when its version is another, ErrAlreadyExists when the
	// new entity ID is another SP's.
	UpdateServiceProvider(ctx context.Context, sp ServiceProvider) error
	// DeleteServiceProvider deletes the SP and, in the same transaction, the consents given
	// to its pseudo-client "saml:<id>". ErrNotFound when there is none.
	DeleteServiceProvider(ctx context.Context, id string) error
}
