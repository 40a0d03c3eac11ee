package storagetest

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// mfaTests are the MFA conformance subtests; they use distinct user IDs, so they may share
// one store.
var mfaTests = []struct {
	name string
	fn   func(t *testing.T, s storage.MFAStore)
}{
	{"Enrolments", testMFAEnrolments},
	{"Factors", testMFAFactors},
	{"SignCounter", testMFASignCounter},
	{"TOTPSteps", testMFATOTPSteps},
	{"RecoveryCodes", testMFARecoveryCodes},
	{"Reset", testMFAReset},
}

// RunMFA runs only the MFA conformance tests, each on a new store from open. Run includes
// them for every backend that implements storage.MFAStore and skips them for the others.
func RunMFA(t *testing.T, open func(t *testing.T) storage.Storage) {
	for _, tt := range mfaTests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := open(t).(storage.MFAStore)
			if !ok {
				t.Skip("the backend does not implement storage.MFAStore")
			}
			tt.fn(t, m)
		})
	}
}

// testMFA is Run's entry: the MFA subtests on one store.
func testMFA(t *testing.T, s storage.Storage) {
	m, ok := s.(storage.MFAStore)
	if !ok {
		t.Skip("the backend does not implement storage.MFAStore")
	}
	for _, tt := range mfaTests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, m) })
	}
}

func enrolment(user string, now time.Time) storage.MFAEnrolment {
	return storage.MFAEnrolment{UserID: user, Username: "Name-" + user, WebAuthnID: []byte("handle-" + user + "\x00\xff"), CreatedAt: now, UpdatedAt: now}
}

func totpFactor(id, user string, now time.Time) storage.MFAFactor {
	return storage.MFAFactor{ID: id, UserID: user, Type: storage.MFATypeTOTP, Name: "Phone " + id,
		Secret: []byte{0, 1, 2, 0xfe, 0xff}, CreatedAt: now}
}

func webauthnFactor(id, user string, cred []byte, now time.Time) storage.MFAFactor {
	return storage.MFAFactor{ID: id, UserID: user, Type: storage.MFATypeWebAuthn, Name: "Key " + id,
		Secret: []byte(`{"id":"x"}`), CredentialID: cred, SignCount: 5, CreatedAt: now, LastUsedAt: now}
}

func testMFAEnrolments(t *testing.T, s storage.MFAStore) {
	ctx := ctxFor(t)
	now := baseTime()
	_, err := s.GetMFAEnrolment(ctx, "enr-u1")
	wantErr(t, "get missing enrolment", err, storage.ErrNotFound)
	e := enrolment("enr-u1", now)
	got, err := s.PutMFAEnrolment(ctx, e)
	wantErr(t, "put enrolment", err, nil)
	mustEqual(t, "put enrolment result", e, got)
	got, err = s.GetMFAEnrolment(ctx, "enr-u1")
	wantErr(t, "get enrolment", err, nil)
	mustEqual(t, "enrolment", e, got)

	later := now.Add(time.Hour)
	again := storage.MFAEnrolment{UserID: "enr-u1", Username: "renamed", WebAuthnID: []byte("other"), CreatedAt: later, UpdatedAt: later}
	got, err = s.PutMFAEnrolment(ctx, again)
	wantErr(t, "put existing enrolment", err, nil)
	want := e
	want.Username, want.UpdatedAt = "renamed", later
	mustEqual(t, "updated enrolment keeps WebAuthnID and CreatedAt", want, got)

	_, err = s.PutMFAEnrolment(ctx, enrolment("enr-u2", now))
	wantErr(t, "put second enrolment", err, nil)
	_, err = s.PutMFAEnrolment(ctx, storage.MFAEnrolment{UserID: "enr-u3", Username: "RENAMED", WebAuthnID: []byte{1}, CreatedAt: later, UpdatedAt: later})
	wantErr(t, "put third enrolment", err, nil)
	found, err := s.FindMFAEnrolments(ctx, "Renamed")
	wantErr(t, "find enrolments", err, nil)
	if len(found) != 2 || found[0].UserID != "enr-u1" || found[1].UserID != "enr-u3" {
		t.Errorf("FindMFAEnrolments(Renamed) = %+v, want enr-u1 and enr-u3 (case-insensitive, oldest first)", found)
	}
	found, err = s.FindMFAEnrolments(ctx, "nobody")
	wantErr(t, "find none", err, nil)
	if len(found) != 0 {
		t.Errorf("FindMFAEnrolments(nobody) = %+v, want none", found)
	}
}

func testMFAFactors(t *testing.T, s storage.MFAStore) {
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create factor of a user not enrolled", s.CreateMFAFactor(ctx, totpFactor("f-x", "fac-nobody", now)), storage.ErrNotFound)
	for _, u := range []string{"fac-u1", "fac-u2"} {
		_, err := s.PutMFAEnrolment(ctx, enrolment(u, now))
		wantErr(t, "enrol "+u, err, nil)
	}
	f1 := totpFactor("f-1", "fac-u1", now)
	f2 := webauthnFactor("f-2", "fac-u1", []byte{9, 8, 7, 0}, now.Add(time.Second))
	wantErr(t, "create totp factor", s.CreateMFAFactor(ctx, f1), nil)
	wantErr(t, "create webauthn factor", s.CreateMFAFactor(ctx, f2), nil)
	wantErr(t, "create duplicate ID", s.CreateMFAFactor(ctx, totpFactor("f-1", "fac-u2", now)), storage.ErrAlreadyExists)
	wantErr(t, "create duplicate credential ID", s.CreateMFAFactor(ctx, webauthnFactor("f-3", "fac-u2", []byte{9, 8, 7, 0}, now)), storage.ErrAlreadyExists)
	wantErr(t, "two TOTP factors without credential IDs", s.CreateMFAFactor(ctx, totpFactor("f-4", "fac-u2", now)), nil)

	got, err := s.ListMFAFactors(ctx, "fac-u1")
	wantErr(t, "list factors", err, nil)
	mustEqual(t, "factors of fac-u1", []storage.MFAFactor{f1, f2}, got)
	if len(got) == 2 && got[0].CredentialID != nil && len(got[0].CredentialID) != 0 {
		t.Errorf("TOTP factor has credential ID %x", got[0].CredentialID)
	}
	got, err = s.ListMFAFactors(ctx, "fac-nobody")
	wantErr(t, "list factors of a stranger", err, nil)
	if len(got) != 0 {
		t.Errorf("factors of fac-nobody: %+v", got)
	}

	wantErr(t, "delete another user's factor", s.DeleteMFAFactor(ctx, "fac-u2", "f-1"), storage.ErrNotFound)
	wantErr(t, "delete factor", s.DeleteMFAFactor(ctx, "fac-u1", "f-1"), nil)
	wantErr(t, "delete factor again", s.DeleteMFAFactor(ctx, "fac-u1", "f-1"), storage.ErrNotFound)
	got, err = s.ListMFAFactors(ctx, "fac-u1")
	wantErr(t, "list after delete", err, nil)
	mustEqual(t, "factors after delete", []storage.MFAFactor{f2}, got)
}

func testMFASignCounter(t *testing.T, s storage.MFAStore) {
	ctx := ctxFor(t)
	now := baseTime()
	_, err := s.PutMFAEnrolment(ctx, enrolment("sc-u", now))
	wantErr(t, "enrol", err, nil)
	wantErr(t, "create", s.CreateMFAFactor(ctx, webauthnFactor("sc-f", "sc-u", []byte("cred-sc"), now)), nil)
	zero := webauthnFactor("sc-zero", "sc-u", []byte("cred-zero"), now)
	zero.SignCount = 0
	wantErr(t, "create zero-counter factor", s.CreateMFAFactor(ctx, zero), nil)

	later := now.Add(time.Minute)
	wantErr(t, "use with a higher counter", s.RecordMFAFactorUse(ctx, "sc-u", "sc-f", 6, later), nil)
	wantErr(t, "use with the same counter", s.RecordMFAFactorUse(ctx, "sc-u", "sc-f", 6, later), storage.ErrConflict)
	wantErr(t, "use with a lower counter", s.RecordMFAFactorUse(ctx, "sc-u", "sc-f", 2, later), storage.ErrConflict)
	wantErr(t, "use with zero after non-zero", s.RecordMFAFactorUse(ctx, "sc-u", "sc-f", 0, later), storage.ErrConflict)
	wantErr(t, "zero stays zero", s.RecordMFAFactorUse(ctx, "sc-u", "sc-zero", 0, later), nil)
	wantErr(t, "use by another user", s.RecordMFAFactorUse(ctx, "sc-other", "sc-f", 9, later), storage.ErrNotFound)
	fs, err := s.ListMFAFactors(ctx, "sc-u")
	wantErr(t, "list", err, nil)
	if len(fs) != 2 || fs[0].SignCount != 6 || !timeEqual(later, fs[0].LastUsedAt) || !timeEqual(later, fs[1].LastUsedAt) {
		t.Errorf("after uses: %+v, want counter 6 and last use %v", fs, later)
	}

	// Of concurrent uses with the same counter exactly one wins.
	var wins atomic.Int32
	run(8, func(int) {
		if s.RecordMFAFactorUse(ctx, "sc-u", "sc-f", 7, later) == nil {
			wins.Add(1)
		}
	})
	if n := wins.Load(); n != 1 {
		t.Errorf("%d concurrent uses with counter 7 succeeded, want exactly 1", n)
	}
}

func testMFATOTPSteps(t *testing.T, s storage.MFAStore) {
	ctx := ctxFor(t)
	now := baseTime()
	_, err := s.PutMFAEnrolment(ctx, enrolment("ts-u", now))
	wantErr(t, "enrol", err, nil)
	wantErr(t, "create", s.CreateMFAFactor(ctx, totpFactor("ts-f", "ts-u", now)), nil)
	wantErr(t, "create second", s.CreateMFAFactor(ctx, totpFactor("ts-g", "ts-u", now)), nil)
	exp := now.Add(2 * time.Minute)
	wantErr(t, "use step", s.UseTOTPStep(ctx, "ts-u", "ts-f", 1000, exp), nil)
	wantErr(t, "replay step", s.UseTOTPStep(ctx, "ts-u", "ts-f", 1000, exp), storage.ErrReused)
	wantErr(t, "use an older step", s.UseTOTPStep(ctx, "ts-u", "ts-f", 999, exp), storage.ErrReused)
	wantErr(t, "use the next step", s.UseTOTPStep(ctx, "ts-u", "ts-f", 1001, exp), nil)
	wantErr(t, "another factor has its own steps", s.UseTOTPStep(ctx, "ts-u", "ts-g", 1000, exp), nil)
	wantErr(t, "another user's factor", s.UseTOTPStep(ctx, "ts-x", "ts-f", 2000, exp), storage.ErrNotFound)

	var wins atomic.Int32
	run(8, func(int) {
		if s.UseTOTPStep(ctx, "ts-u", "ts-f", 1500, exp) == nil {
			wins.Add(1)
		}
	})
	if n := wins.Load(); n != 1 {
		t.Errorf("%d concurrent uses of one step succeeded, want exactly 1", n)
	}

	n, err := s.GCMFA(ctx, now)
	wantErr(t, "gc before expiry", err, nil)
	if n != 0 {
		t.Errorf("GCMFA before expiry removed %d records", n)
	}
	n, err = s.GCMFA(ctx, exp.Add(time.Second))
	wantErr(t, "gc after expiry", err, nil)
	if n != 4 {
		t.Errorf("GCMFA after expiry removed %d records, want 4", n)
	}
}

func testMFARecoveryCodes(t *testing.T, s storage.MFAStore) {
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "codes of a user not enrolled", s.ReplaceRecoveryCodes(ctx, "rc-nobody", []string{"h"}, now), storage.ErrNotFound)
	_, err := s.PutMFAEnrolment(ctx, enrolment("rc-u", now))
	wantErr(t, "enrol", err, nil)
	wantErr(t, "replace codes", s.ReplaceRecoveryCodes(ctx, "rc-u", []string{"h1", "h2", "h3"}, now), nil)
	count := func(want int) {
		t.Helper()
		n, err := s.CountRecoveryCodes(ctx, "rc-u")
		wantErr(t, "count codes", err, nil)
		if n != want {
			t.Errorf("CountRecoveryCodes = %d, want %d", n, want)
		}
	}
	count(3)
	wantErr(t, "use code", s.UseRecoveryCode(ctx, "rc-u", "h2", now), nil)
	wantErr(t, "use code again", s.UseRecoveryCode(ctx, "rc-u", "h2", now), storage.ErrReused)
	wantErr(t, "use unknown code", s.UseRecoveryCode(ctx, "rc-u", "nope", now), storage.ErrNotFound)
	wantErr(t, "use another user's code", s.UseRecoveryCode(ctx, "rc-x", "h1", now), storage.ErrNotFound)
	count(2)

	var wins atomic.Int32
	run(8, func(int) {
		if s.UseRecoveryCode(ctx, "rc-u", "h3", now) == nil {
			wins.Add(1)
		}
	})
	if n := wins.Load(); n != 1 {
		t.Errorf("%d concurrent uses of one recovery code succeeded, want exactly 1", n)
	}
	count(1)

	wantErr(t, "regenerate", s.ReplaceRecoveryCodes(ctx, "rc-u", []string{"h2", "h9"}, now), nil)
	count(2)
	wantErr(t, "a regenerated code is fresh", s.UseRecoveryCode(ctx, "rc-u", "h2", now), nil)
	wantErr(t, "old codes are gone", s.UseRecoveryCode(ctx, "rc-u", "h1", now), storage.ErrNotFound)
}

func testMFAReset(t *testing.T, s storage.MFAStore) {
	ctx := ctxFor(t)
	now := baseTime()
	for _, u := range []string{"rs-u", "rs-keep"} {
		_, err := s.PutMFAEnrolment(ctx, enrolment(u, now))
		wantErr(t, "enrol", err, nil)
		wantErr(t, "create factor", s.CreateMFAFactor(ctx, totpFactor("rs-f-"+u, u, now)), nil)
		wantErr(t, "create key", s.CreateMFAFactor(ctx, webauthnFactor("rs-k-"+u, u, []byte("cred-"+u), now)), nil)
		wantErr(t, "use step", s.UseTOTPStep(ctx, u, "rs-f-"+u, 5, now.Add(time.Hour)), nil)
		wantErr(t, "codes", s.ReplaceRecoveryCodes(ctx, u, []string{"c1"}, now), nil)
	}
	wantErr(t, "reset", s.DeleteMFAEnrolment(ctx, "rs-u"), nil)
	wantErr(t, "reset again", s.DeleteMFAEnrolment(ctx, "rs-u"), storage.ErrNotFound)
	_, err := s.GetMFAEnrolment(ctx, "rs-u")
	wantErr(t, "enrolment after reset", err, storage.ErrNotFound)
	fs, err := s.ListMFAFactors(ctx, "rs-u")
	wantErr(t, "factors after reset", err, nil)
	if len(fs) != 0 {
		t.Errorf("factors left after reset: %+v", fs)
	}
	if n, err := s.CountRecoveryCodes(ctx, "rs-u"); err != nil || n != 0 {
		t.Errorf("recovery codes after reset: %d, %v", n, err)
	}
	// Enrolling again starts clean, and the freed credential ID can be registered again.
	_, err = s.PutMFAEnrolment(ctx, enrolment("rs-u", now))
	wantErr(t, "enrol again", err, nil)
	wantErr(t, "reuse credential ID", s.CreateMFAFactor(ctx, webauthnFactor("rs-k2", "rs-u", []byte("cred-rs-u"), now)), nil)
	wantErr(t, "recreate TOTP factor ID", s.CreateMFAFactor(ctx, totpFactor("rs-f-rs-u", "rs-u", now)), nil)
	wantErr(t, "old steps are gone", s.UseTOTPStep(ctx, "rs-u", "rs-f-rs-u", 5, now.Add(time.Hour)), nil)
	// The other user is untouched.
	fs, err = s.ListMFAFactors(ctx, "rs-keep")
	wantErr(t, "other user's factors", err, nil)
	if len(fs) != 2 || !bytes.Equal(fs[1].CredentialID, []byte("cred-rs-keep")) {
		t.Errorf("other user's factors after reset: %+v", fs)
	}
	if err := s.UseRecoveryCode(ctx, "rs-keep", "c1", now); err != nil && !errors.Is(err, storage.ErrReused) {
		t.Errorf("other user's recovery code: %v", err)
	}
}
