package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunServiceProviders runs the conformance tests of the optional storage.ServiceProviderStore
// (runtime SAML service providers). A backend that implements it calls RunServiceProviders;
// the tests fail if it does not.
func RunServiceProviders(t *testing.T, open func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage)
	}{
		{"CRUD", testSPCRUD},
		{"UniqueEntityID", testSPUniqueEntityID},
		{"OptimisticVersion", testSPVersion},
		{"DeleteConsents", testSPDeleteConsents},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// RunServiceProvidersTwoHandles checks that an SP written through one handle is read at once
// through another (two replicas on one database), by ID and by entity ID.
func RunServiceProvidersTwoHandles(t *testing.T, open2 func(t *testing.T) (a, b storage.Storage)) {
	a, b := open2(t)
	sa, sb := implements[storage.ServiceProviderStore](t, a), implements[storage.ServiceProviderStore](t, b)
	ctx := ctxFor(t)
	now := baseTime()
	want := storedSP("shared", now)
	wantErr(t, "create on a", sa.CreateServiceProvider(ctx, want), nil)
	got, err := sb.GetServiceProviderByEntityID(ctx, want.EntityID)
	wantErr(t, "get by entity on b", err, nil)
	mustEqual(t, "SP on b", want, got)
	upd := want
	upd.Name = "changed on b"
	wantErr(t, "update on b", sb.UpdateServiceProvider(ctx, upd), nil)
	wantErr(t, "stale update on a", sa.UpdateServiceProvider(ctx, want), storage.ErrConflict)
	wantErr(t, "delete on b", sb.DeleteServiceProvider(ctx, "shared"), nil)
	_, err = sa.GetServiceProviderByEntityID(ctx, want.EntityID)
	wantErr(t, "get deleted on a", err, storage.ErrNotFound)
}

func storedSP(id string, now time.Time) storage.ServiceProvider {
	return storage.ServiceProvider{
		ID: id, Name: "SP " + id, EntityID: "https://" + id + ".example.com/saml",
		MetadataXML: `<EntityDescriptor entityID="https://` + id + `.example.com/saml"/>`,
		MetadataURL: "https://" + id + ".example.com/metadata", NameIDFormat: "transient",
		Attributes:   map[string]string{"mail": "email", "memberOf": "groups"},
		SignResponse: true, SignAssertion: true, EncryptAssertion: true,
		AllowedConnectors: []string{"local"}, Trusted: true, MFAClasses: []string{"urn:example:mfa"},
		Version: 1, CreatedAt: now, UpdatedAt: now,
	}
}

func testSPCRUD(t *testing.T, s storage.Storage) {
	ss := implements[storage.ServiceProviderStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	_, err := ss.GetServiceProvider(ctx, "wiki")
	wantErr(t, "get missing", err, storage.ErrNotFound)
	_, err = ss.GetServiceProviderByEntityID(ctx, "https://wiki.example.com/saml")
	wantErr(t, "get missing by entity", err, storage.ErrNotFound)
	list, err := ss.ListServiceProviders(ctx)
	wantErr(t, "list empty", err, nil)
	if len(list) != 0 {
		t.Fatalf("empty store lists %d service providers", len(list))
	}
	static := storage.ServiceProvider{ID: "a-static", EntityID: "urn:a-static", ACSURL: "https://a.example.com/acs",
		SLOURL: "https://a.example.com/slo", CertPEM: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		SignAssertion: true, Version: 1, CreatedAt: now, UpdatedAt: now}
	for _, sp := range []storage.ServiceProvider{storedSP("wiki", now), static} {
		wantErr(t, "create "+sp.ID, ss.CreateServiceProvider(ctx, sp), nil)
	}
	wantErr(t, "create duplicate", ss.CreateServiceProvider(ctx, storedSP("wiki", now)), storage.ErrAlreadyExists)
	got, err := ss.GetServiceProvider(ctx, "wiki")
	wantErr(t, "get", err, nil)
	mustEqual(t, "SP", storedSP("wiki", now), got)
	got, err = ss.GetServiceProviderByEntityID(ctx, "urn:a-static")
	wantErr(t, "get by entity", err, nil)
	mustEqual(t, "static SP", static, got)
	_, err = ss.GetServiceProviderByEntityID(ctx, "URN:A-STATIC")
	wantErr(t, "entity IDs match exactly", err, storage.ErrNotFound)
	list, err = ss.ListServiceProviders(ctx)
	wantErr(t, "list", err, nil)
	if len(list) != 2 || list[0].ID != "a-static" || list[1].ID != "wiki" {
		t.Fatalf("list = %+v, want a-static, wiki", list)
	}

	upd := storedSP("wiki", now)
	upd.Name, upd.EntityID, upd.Attributes, upd.Trusted = "Renamed", "https://new.example.com/saml", map[string]string{"uid": "sub"}, false
	upd.CreatedAt, upd.UpdatedAt = now.Add(time.Hour), now.Add(time.Minute) // CreatedAt is not updated
	wantErr(t, "update", ss.UpdateServiceProvider(ctx, upd), nil)
	got, err = ss.GetServiceProvider(ctx, "wiki")
	wantErr(t, "get updated", err, nil)
	upd.CreatedAt, upd.Version = now, 2
	mustEqual(t, "updated SP", upd, got)
	_, err = ss.GetServiceProviderByEntityID(ctx, "https://wiki.example.com/saml")
	wantErr(t, "old entity ID after update", err, storage.ErrNotFound)
	wantErr(t, "update missing", ss.UpdateServiceProvider(ctx, storedSP("nobody", now)), storage.ErrNotFound)

	wantErr(t, "delete", ss.DeleteServiceProvider(ctx, "wiki"), nil)
	_, err = ss.GetServiceProvider(ctx, "wiki")
	wantErr(t, "get deleted", err, storage.ErrNotFound)
	wantErr(t, "delete again", ss.DeleteServiceProvider(ctx, "wiki"), storage.ErrNotFound)
	wantErr(t, "recreate after delete", ss.CreateServiceProvider(ctx, storedSP("wiki", now)), nil)
}

// testSPUniqueEntityID checks that two SPs never share an entity ID, on create and on update,
// and that a refused write leaves nothing behind.
func testSPUniqueEntityID(t *testing.T, s storage.Storage) {
	ss := implements[storage.ServiceProviderStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create wiki", ss.CreateServiceProvider(ctx, storedSP("wiki", now)), nil)
	dup := storedSP("other", now)
	dup.EntityID = storedSP("wiki", now).EntityID
	wantErr(t, "create with wiki's entity ID", ss.CreateServiceProvider(ctx, dup), storage.ErrAlreadyExists)
	_, err := ss.GetServiceProvider(ctx, "other")
	wantErr(t, "refused SP not written", err, storage.ErrNotFound)
	wantErr(t, "create other", ss.CreateServiceProvider(ctx, storedSP("other", now)), nil)
	upd := storedSP("other", now)
	upd.EntityID = dup.EntityID
	wantErr(t, "update to wiki's entity ID", ss.UpdateServiceProvider(ctx, upd), storage.ErrAlreadyExists)
	got, err := ss.GetServiceProvider(ctx, "other")
	wantErr(t, "get other", err, nil)
	mustEqual(t, "other unchanged", storedSP("other", now), got)
}

// testSPVersion checks the optimistic concurrency of updates: of two updates that read
// version 1, the second is refused and changes nothing.
func testSPVersion(t *testing.T, s storage.Storage) {
	ss := implements[storage.ServiceProviderStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create", ss.CreateServiceProvider(ctx, storedSP("wiki", now)), nil)
	first, second := storedSP("wiki", now), storedSP("wiki", now)
	first.Name, second.Name = "first", "second"
	wantErr(t, "first update", ss.UpdateServiceProvider(ctx, first), nil)
	wantErr(t, "second update from the same version", ss.UpdateServiceProvider(ctx, second), storage.ErrConflict)
	got, err := ss.GetServiceProvider(ctx, "wiki")
	wantErr(t, "get", err, nil)
	if got.Name != "first" || got.Version != 2 {
		t.Fatalf("after a refused update: name %q version %d, want first 2", got.Name, got.Version)
	}
	second.Version = 2
	wantErr(t, "update from the current version", ss.UpdateServiceProvider(ctx, second), nil)
	if got, err := ss.GetServiceProvider(ctx, "wiki"); err != nil || got.Version != 3 || got.Name != "second" {
		t.Fatalf("after the second update: name %q version %d (%v), want second 3", got.Name, got.Version, err)
	}
}

// testSPDeleteConsents checks that deleting an SP deletes the consents given to its
// pseudo-client and no other.
func testSPDeleteConsents(t *testing.T, s storage.Storage) {
	ss := implements[storage.ServiceProviderStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create", ss.CreateServiceProvider(ctx, storedSP("wiki", now)), nil)
	for _, client := range []string{"saml:wiki", "saml:other"} {
		wantErr(t, "consent "+client, s.PutConsent(ctx, storage.Consent{Subject: "sub", ClientID: client,
			Scopes: []string{"openid"}, CreatedAt: now, UpdatedAt: now}), nil)
	}
	wantErr(t, "delete", ss.DeleteServiceProvider(ctx, "wiki"), nil)
	_, err := s.GetConsent(ctx, "sub", "saml:wiki")
	wantErr(t, "consent of the deleted SP", err, storage.ErrNotFound)
	_, err = s.GetConsent(ctx, "sub", "saml:other")
	wantErr(t, "other consent", err, nil)
}
