package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunPasskeys runs the conformance tests of the optional storage.PasskeyStore (with the
// storage.MFAStore it extends). A backend that implements it calls RunPasskeys; the tests
// fail if it does not.
func RunPasskeys(t *testing.T, open func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, m storage.MFAStore, p storage.PasskeyStore)
	}{
		{"CreateListFind", testPasskeyCreateListFind},
		{"CreateAtomic", testPasskeyCreateAtomic},
		{"DeleteFactorDropsBinding", testPasskeyDelete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			tt.fn(t, implements[storage.MFAStore](t, s), implements[storage.PasskeyStore](t, s))
		})
	}
}

func passkeyBinding(f storage.MFAFactor) storage.PasskeyBinding {
	return storage.PasskeyBinding{FactorID: f.ID, UserID: f.UserID, ConnectorID: "local", Subject: "name-" + f.UserID, CreatedAt: f.CreatedAt}
}

func testPasskeyCreateListFind(t *testing.T, m storage.MFAStore, p storage.PasskeyStore) {
	ctx := ctxFor(t)
	now := baseTime()
	_, err := p.FindMFAEnrolmentByHandle(ctx, []byte("handle-pk-u1\x00\xff"))
	wantErr(t, "find before enrolment", err, storage.ErrNotFound)
	_, err = p.FindMFAEnrolmentByHandle(ctx, nil)
	wantErr(t, "find empty handle", err, storage.ErrNotFound)
	f := webauthnFactor("pk-f1", "pk-u1", []byte("cred-pk-1"), now)
	wantErr(t, "create for a user not enrolled", p.CreatePasskey(ctx, f, passkeyBinding(f)), storage.ErrNotFound)
	for _, u := range []string{"pk-u1", "pk-u2"} {
		_, err := m.PutMFAEnrolment(ctx, enrolment(u, now))
		wantErr(t, "enrol "+u, err, nil)
	}
	wantErr(t, "create", p.CreatePasskey(ctx, f, passkeyBinding(f)), nil)
	f2 := webauthnFactor("pk-f2", "pk-u1", []byte("cred-pk-2"), now.Add(time.Second))
	wantErr(t, "create second", p.CreatePasskey(ctx, f2, passkeyBinding(f2)), nil)
	wantErr(t, "plain factor", m.CreateMFAFactor(ctx, totpFactor("pk-totp", "pk-u1", now)), nil)

	got, err := p.ListPasskeys(ctx, "pk-u1")
	wantErr(t, "list", err, nil)
	mustEqual(t, "list", []storage.PasskeyBinding{passkeyBinding(f), passkeyBinding(f2)}, got)
	got, err = p.ListPasskeys(ctx, "pk-u2")
	wantErr(t, "list other user", err, nil)
	if len(got) != 0 {
		t.Fatalf("another user's passkeys: %+v", got)
	}
	fs, err := m.ListMFAFactors(ctx, "pk-u1")
	wantErr(t, "list factors", err, nil)
	if len(fs) != 3 || string(fs[0].Secret) != string(f.Secret) || string(fs[0].CredentialID) != "cred-pk-1" {
		t.Fatalf("factors after CreatePasskey: %+v", fs)
	}

	e, err := p.FindMFAEnrolmentByHandle(ctx, []byte("handle-pk-u1\x00\xff"))
	wantErr(t, "find by handle", err, nil)
	mustEqual(t, "find by handle", enrolment("pk-u1", now), e)
	_, err = p.FindMFAEnrolmentByHandle(ctx, []byte("handle-pk-u1\x00"))
	wantErr(t, "find by a prefix of the handle", err, storage.ErrNotFound)
}

// testPasskeyCreateAtomic: a factor that cannot be stored leaves no binding, and a taken
// credential ID is refused for passkeys as for factors.
func testPasskeyCreateAtomic(t *testing.T, m storage.MFAStore, p storage.PasskeyStore) {
	ctx := ctxFor(t)
	now := baseTime()
	for _, u := range []string{"pa-u1", "pa-u2"} {
		_, err := m.PutMFAEnrolment(ctx, enrolment(u, now))
		wantErr(t, "enrol "+u, err, nil)
	}
	f := webauthnFactor("pa-f1", "pa-u1", []byte("cred-pa"), now)
	wantErr(t, "create", p.CreatePasskey(ctx, f, passkeyBinding(f)), nil)
	dup := webauthnFactor("pa-f2", "pa-u2", []byte("cred-pa"), now)
	wantErr(t, "taken credential ID", p.CreatePasskey(ctx, dup, passkeyBinding(dup)), storage.ErrAlreadyExists)
	wantErr(t, "taken factor ID", p.CreatePasskey(ctx, f, passkeyBinding(f)), storage.ErrAlreadyExists)
	got, err := p.ListPasskeys(ctx, "pa-u2")
	wantErr(t, "list", err, nil)
	fs, ferr := m.ListMFAFactors(ctx, "pa-u2")
	wantErr(t, "list factors", ferr, nil)
	if len(got) != 0 || len(fs) != 0 {
		t.Fatalf("a refused passkey left rows: bindings %+v, factors %+v", got, fs)
	}
}

// testPasskeyDelete: deleting the factor, or the whole enrolment, deletes the binding.
func testPasskeyDelete(t *testing.T, m storage.MFAStore, p storage.PasskeyStore) {
	ctx := ctxFor(t)
	now := baseTime()
	_, err := m.PutMFAEnrolment(ctx, enrolment("pd-u1", now))
	wantErr(t, "enrol", err, nil)
	f1 := webauthnFactor("pd-f1", "pd-u1", []byte("cred-pd-1"), now)
	f2 := webauthnFactor("pd-f2", "pd-u1", []byte("cred-pd-2"), now.Add(time.Second))
	for _, f := range []storage.MFAFactor{f1, f2} {
		wantErr(t, "create "+f.ID, p.CreatePasskey(ctx, f, passkeyBinding(f)), nil)
	}
	wantErr(t, "delete factor", m.DeleteMFAFactor(ctx, "pd-u1", "pd-f1"), nil)
	got, err := p.ListPasskeys(ctx, "pd-u1")
	wantErr(t, "list", err, nil)
	mustEqual(t, "after deleting a factor", []storage.PasskeyBinding{passkeyBinding(f2)}, got)
	// The credential ID is free again (a re-registration of the same authenticator).
	wantErr(t, "re-create", p.CreatePasskey(ctx, f1, passkeyBinding(f1)), nil)
	wantErr(t, "delete enrolment", m.DeleteMFAEnrolment(ctx, "pd-u1"), nil)
	got, err = p.ListPasskeys(ctx, "pd-u1")
	wantErr(t, "list after reset", err, nil)
	if len(got) != 0 {
		t.Fatalf("bindings after the enrolment was deleted: %+v", got)
	}
	_, err = p.FindMFAEnrolmentByHandle(ctx, []byte("handle-pd-u1\x00\xff"))
	wantErr(t, "find after reset", err, storage.ErrNotFound)
}
