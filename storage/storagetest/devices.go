package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunDevices runs the conformance tests of the optional storage.DeviceStore (RFC 8628
// device codes). A backend that implements it calls RunDevices; the tests fail if it does not.
func RunDevices(t *testing.T, open func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, d storage.DeviceStore)
	}{
		{"Lifecycle", testDeviceLifecycle},
		{"Denied", testDeviceDenied},
		{"Expired", testDeviceExpired},
		{"DecideRace", testDeviceDecideRace},
		{"PollRace", testDevicePollRace},
		{"WrongClient", testDeviceWrongClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, implements[storage.DeviceStore](t, open(t)))
		})
	}
}

func newDevice(now time.Time) storage.DeviceCode {
	return storage.DeviceCode{DeviceHash: "dev-hash", UserHash: "user-hash", ClientID: "tv", Scopes: []string{"openid", "offline_access"},
		Interval: 5 * time.Second, CreatedAt: now, Expiry: now.Add(10 * time.Minute)}
}

func testDeviceLifecycle(t *testing.T, ds storage.DeviceStore) {
	ctx := ctxFor(t)
	now := baseTime()
	d := newDevice(now)
	wantErr(t, "create", ds.CreateDeviceCode(ctx, d), nil)
	dup := d
	dup.DeviceHash = "other"
	wantErr(t, "create with a taken user code", ds.CreateDeviceCode(ctx, dup), storage.ErrAlreadyExists)
	got, err := ds.GetDeviceCodeByUser(ctx, "user-hash", now)
	wantErr(t, "get", err, nil)
	if got.ClientID != "tv" || got.Status != storage.DevicePending || len(got.Scopes) != 2 || got.Interval != 5*time.Second || got.Expiry.UnixMilli() != d.Expiry.UnixMilli() {
		t.Fatalf("get = %+v", got)
	}
	_, err = ds.GetDeviceCodeByUser(ctx, "nope", now)
	wantErr(t, "get unknown", err, storage.ErrNotFound)

	p, err := ds.PollDeviceCode(ctx, "dev-hash", "tv", now.Add(time.Second))
	wantErr(t, "first poll", err, nil)
	if p.Status != storage.DevicePending || !p.PreviousPoll.IsZero() {
		t.Fatalf("first poll = %s, previous %v; want pending, no previous poll", p.Status, p.PreviousPoll)
	}
	p, err = ds.PollDeviceCode(ctx, "dev-hash", "tv", now.Add(3*time.Second))
	wantErr(t, "second poll", err, nil)
	if p.Status != storage.DevicePending || p.PreviousPoll.UnixMilli() != now.Add(time.Second).UnixMilli() {
		t.Fatalf("second poll = %s, previous %v; want pending, previous at +1s", p.Status, p.PreviousPoll)
	}
	_, err = ds.PollDeviceCode(ctx, "nope", "tv", now)
	wantErr(t, "poll unknown", err, storage.ErrNotFound)

	ok := storage.DeviceCode{Status: storage.DeviceApproved, SessionID: "sess",
		Identity: storage.Identity{Subject: "u1", Email: "u1@example.com"},
		Auth:     storage.Authentication{ConnectorID: "local", AuthTime: now, ConnectorData: []byte("upstream-token")}}
	wantErr(t, "approve", ds.DecideDeviceCode(ctx, "user-hash", ok, now.Add(4*time.Second)), nil)
	wantErr(t, "approve again", ds.DecideDeviceCode(ctx, "user-hash", ok, now.Add(4*time.Second)), storage.ErrNotFound)
	p, err = ds.PollDeviceCode(ctx, "dev-hash", "tv", now.Add(9*time.Second))
	wantErr(t, "poll approved", err, nil)
	if p.Status != storage.DeviceApproved || p.Identity.Subject != "u1" || p.SessionID != "sess" || string(p.Auth.ConnectorData) != "upstream-token" {
		t.Fatalf("poll approved = %+v", p)
	}
	p, err = ds.PollDeviceCode(ctx, "dev-hash", "tv", now.Add(15*time.Second))
	wantErr(t, "poll after consumption", err, nil)
	if p.Status != storage.DeviceConsumed {
		t.Fatalf("poll after consumption = %s, want consumed", p.Status)
	}
}

func testDeviceDenied(t *testing.T, ds storage.DeviceStore) {
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create", ds.CreateDeviceCode(ctx, newDevice(now)), nil)
	if err := ds.DecideDeviceCode(ctx, "user-hash", storage.DeviceCode{Status: storage.DevicePending}, now); err == nil {
		t.Fatal("pending accepted as a decision")
	}
	wantErr(t, "deny", ds.DecideDeviceCode(ctx, "user-hash", storage.DeviceCode{Status: storage.DeviceDenied}, now), nil)
	p, err := ds.PollDeviceCode(ctx, "dev-hash", "tv", now)
	if err != nil || p.Status != storage.DeviceDenied {
		t.Fatalf("poll denied = %s, %v", p.Status, err)
	}
}

func testDeviceExpired(t *testing.T, ds storage.DeviceStore) {
	ctx := ctxFor(t)
	now := baseTime()
	d := newDevice(now)
	wantErr(t, "create", ds.CreateDeviceCode(ctx, d), nil)
	later := d.Expiry
	_, err := ds.GetDeviceCodeByUser(ctx, "user-hash", later)
	wantErr(t, "get expired", err, storage.ErrNotFound)
	wantErr(t, "approve expired", ds.DecideDeviceCode(ctx, "user-hash", storage.DeviceCode{Status: storage.DeviceApproved}, later), storage.ErrNotFound)
	p, err := ds.PollDeviceCode(ctx, "dev-hash", "tv", later)
	if err != nil || p.Status != storage.DevicePending || p.Expiry.After(later) {
		t.Fatalf("poll expired = %+v, %v: want it returned as it is", p, err)
	}
	n, err := ds.DeleteExpiredDeviceCodes(ctx, later)
	if err != nil || n != 0 {
		t.Fatalf("delete expired before its expiry: %d, %v", n, err)
	}
	n, err = ds.DeleteExpiredDeviceCodes(ctx, later.Add(time.Millisecond))
	if err != nil || n != 1 {
		t.Fatalf("delete expired: %d, %v", n, err)
	}
	_, err = ds.PollDeviceCode(ctx, "dev-hash", "tv", later)
	wantErr(t, "poll deleted", err, storage.ErrNotFound)
}

func testDeviceDecideRace(t *testing.T, ds storage.DeviceStore) {
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create", ds.CreateDeviceCode(ctx, newDevice(now)), nil)
	const racers = 8
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			st := storage.DeviceApproved
			if i%2 == 1 {
				st = storage.DeviceDenied
			}
			errs[i] = ds.DecideDeviceCode(ctx, "user-hash", storage.DeviceCode{Status: st}, now)
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrNotFound):
			t.Fatalf("decide: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d decisions succeeded, want exactly 1", won)
	}
}

func testDevicePollRace(t *testing.T, ds storage.DeviceStore) {
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create", ds.CreateDeviceCode(ctx, newDevice(now)), nil)
	wantErr(t, "approve", ds.DecideDeviceCode(ctx, "user-hash", storage.DeviceCode{Status: storage.DeviceApproved,
		Identity: storage.Identity{Subject: "u1"}}, now), nil)
	const racers = 8
	seen := make([]storage.DeviceStatus, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			p, err := ds.PollDeviceCode(ctx, "dev-hash", "tv", now)
			seen[i], errs[i] = p.Status, err
		})
	}
	close(start)
	wg.Wait()
	approved := 0
	for i := range racers {
		wantErr(t, "poll", errs[i], nil)
		switch seen[i] {
		case storage.DeviceApproved:
			approved++
		case storage.DeviceConsumed:
		default:
			t.Fatalf("poll saw %s", seen[i])
		}
	}
	if approved != 1 {
		t.Fatalf("%d polls got the approval, want exactly 1", approved)
	}
}

// testDeviceWrongClient: a poll by a client the code was not issued to is not found and
// changes nothing, at every stage: the owner's next poll sees no previous poll of its own
// spoiled, the approval is still there for it, and a decided code is not consumed.
func testDeviceWrongClient(t *testing.T, ds storage.DeviceStore) {
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create", ds.CreateDeviceCode(ctx, newDevice(now)), nil)
	for _, client := range []string{"other", "", "TV", "tv "} {
		_, err := ds.PollDeviceCode(ctx, "dev-hash", client, now)
		wantErr(t, "pending, polled by "+client, err, storage.ErrNotFound)
	}
	p, err := ds.PollDeviceCode(ctx, "dev-hash", "tv", now.Add(time.Second))
	wantErr(t, "owner's first poll", err, nil)
	if p.Status != storage.DevicePending || !p.PreviousPoll.IsZero() {
		t.Fatalf("owner's first poll = %s, previous %v: the other client's poll was recorded", p.Status, p.PreviousPoll)
	}
	wantErr(t, "approve", ds.DecideDeviceCode(ctx, "user-hash", storage.DeviceCode{Status: storage.DeviceApproved,
		Identity: storage.Identity{Subject: "u1"}}, now.Add(2*time.Second)), nil)
	_, err = ds.PollDeviceCode(ctx, "dev-hash", "other", now.Add(10*time.Second))
	wantErr(t, "approved, polled by another client", err, storage.ErrNotFound)
	p, err = ds.PollDeviceCode(ctx, "dev-hash", "tv", now.Add(11*time.Second))
	wantErr(t, "owner's poll after the other client's", err, nil)
	if p.Status != storage.DeviceApproved || p.Identity.Subject != "u1" || p.PreviousPoll.UnixMilli() != now.Add(time.Second).UnixMilli() {
		t.Fatalf("owner's poll = %s (previous %v): want the approval, previous poll its own at +1s", p.Status, p.PreviousPoll)
	}
}
