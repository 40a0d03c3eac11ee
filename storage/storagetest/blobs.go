package storagetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunBlobs runs the conformance tests of the optional storage.BlobStore. A backend that
// implements it calls RunBlobs from its tests next to Run; for a backend that does not, the
// tests fail (so a backend cannot silently lose the capability it claims).
func RunBlobs(t *testing.T, open func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b storage.BlobStore)
	}{
		{"GetMissing", testBlobGetMissing},
		{"Values", testBlobValues},
		{"PutIfAbsentFirstWins", testBlobPutIfAbsent},
		{"PutIfAbsentOverExpired", testBlobPutIfAbsentExpired},
		{"Expiry", testBlobExpiry},
		{"PutReplaces", testBlobPut},
		{"Delete", testBlobDelete},
		{"DeleteExpired", testBlobDeleteExpired},
		{"PutIfAbsentRace", func(t *testing.T, b storage.BlobStore) { testBlobRace(t, b, false) }},
		{"PutIfAbsentRaceOverExpired", func(t *testing.T, b storage.BlobStore) { testBlobRace(t, b, true) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			b, ok := s.(storage.BlobStore)
			if !ok {
				t.Fatalf("%T does not implement storage.BlobStore", s)
			}
			tt.fn(t, b)
		})
	}
}

// wantBlob fails t unless the blob key holds want at now.
func wantBlob(t *testing.T, b storage.BlobStore, key string, now time.Time, want string) {
	t.Helper()
	got, err := b.GetBlob(ctxFor(t), key, now)
	wantErr(t, "get blob "+key, err, nil)
	if string(got) != want {
		t.Fatalf("blob %s = %q, want %q", key, got, want)
	}
}

// wantNoBlob fails t unless GetBlob of key at now is storage.ErrNotFound.
func wantNoBlob(t *testing.T, b storage.BlobStore, key string, now time.Time) {
	t.Helper()
	got, err := b.GetBlob(ctxFor(t), key, now)
	wantErr(t, "get blob "+key, err, storage.ErrNotFound)
	if got != nil {
		t.Fatalf("blob %s: value %q returned with ErrNotFound", key, got)
	}
}

// putIfAbsent calls PutBlobIfAbsent and fails t unless it returns want.
func putIfAbsent(t *testing.T, b storage.BlobStore, blob storage.Blob, now time.Time, want string) {
	t.Helper()
	got, err := b.PutBlobIfAbsent(ctxFor(t), blob, now)
	wantErr(t, "put blob if absent "+blob.Key, err, nil)
	if string(got) != want {
		t.Fatalf("PutBlobIfAbsent(%s, %q) = %q, want %q", blob.Key, blob.Value, got, want)
	}
}

func testBlobGetMissing(t *testing.T, b storage.BlobStore) {
	now := baseTime()
	wantNoBlob(t, b, "missing", now)
	wantNoBlob(t, b, "", now)
	wantErr(t, "put", b.PutBlob(ctxFor(t), storage.Blob{Key: "saml-idp/key", Value: []byte("v")}), nil)
	// Keys are exact: no prefix or case matching.
	for _, k := range []string{"saml-idp", "saml-idp/", "SAML-IDP/KEY", "saml-idp/key "} {
		wantNoBlob(t, b, k, now)
	}
}

// testBlobValues: values are opaque bytes, returned exactly.
func testBlobValues(t *testing.T, b storage.BlobStore) {
	ctx := ctxFor(t)
	now := baseTime()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	large := bytes.Repeat([]byte("-----BEGIN RSA PRIVATE KEY-----\n"), 256) // about a PEM key pair's size, 8 KiB
	for name, v := range map[string][]byte{"every-byte": all, "large": large, "utf8": []byte("ünïcødé ✓")} {
		wantErr(t, "put "+name, b.PutBlob(ctx, storage.Blob{Key: name, Value: v}), nil)
		got, err := b.GetBlob(ctx, name, now)
		wantErr(t, "get "+name, err, nil)
		if !bytes.Equal(got, v) {
			t.Errorf("blob %s: got %d bytes, want %d (differ)", name, len(got), len(v))
		}
		stored, err := b.PutBlobIfAbsent(ctx, storage.Blob{Key: name, Value: []byte("other")}, now)
		wantErr(t, "put if absent "+name, err, nil)
		if !bytes.Equal(stored, v) {
			t.Errorf("PutBlobIfAbsent over %s returned %d bytes, want the stored %d", name, len(stored), len(v))
		}
	}
}

func testBlobPutIfAbsent(t *testing.T, b storage.BlobStore) {
	now := baseTime()
	putIfAbsent(t, b, storage.Blob{Key: "k", Value: []byte("one")}, now, "one")
	wantBlob(t, b, "k", now, "one")
	// A second put, with or without an expiry, keeps the first value and its (lack of) expiry.
	putIfAbsent(t, b, storage.Blob{Key: "k", Value: []byte("two")}, now, "one")
	putIfAbsent(t, b, storage.Blob{Key: "k", Value: []byte("three"), Expiry: now.Add(time.Minute)}, now, "one")
	wantBlob(t, b, "k", now.Add(100*365*24*time.Hour), "one")

	// A live blob with an expiry is kept until it expires, with its own expiry.
	exp := now.Add(time.Hour)
	putIfAbsent(t, b, storage.Blob{Key: "e", Value: []byte("first"), Expiry: exp}, now, "first")
	putIfAbsent(t, b, storage.Blob{Key: "e", Value: []byte("second")}, now.Add(59*time.Minute), "first")
	wantNoBlob(t, b, "e", exp.Add(time.Second))
	// Other keys are independent.
	putIfAbsent(t, b, storage.Blob{Key: "k2", Value: []byte("other")}, now, "other")
	wantBlob(t, b, "k", now, "one")
}

// testBlobPutIfAbsentExpired: an expired blob counts as absent.
func testBlobPutIfAbsentExpired(t *testing.T, b storage.BlobStore) {
	ctx := ctxFor(t)
	now := baseTime()
	exp := now.Add(time.Minute)
	wantErr(t, "put", b.PutBlob(ctx, storage.Blob{Key: "e", Value: []byte("old"), Expiry: exp}), nil)
	putIfAbsent(t, b, storage.Blob{Key: "e", Value: []byte("early")}, now, "old")
	later := exp.Add(time.Minute)
	putIfAbsent(t, b, storage.Blob{Key: "e", Value: []byte("new"), Expiry: later.Add(time.Hour)}, later, "new")
	wantBlob(t, b, "e", later, "new")
	// The new blob carries its own expiry, not the old one's.
	wantBlob(t, b, "e", later.Add(59*time.Minute), "new")
	wantNoBlob(t, b, "e", later.Add(61*time.Minute))
	// Replaced by a blob without an expiry: it never expires.
	putIfAbsent(t, b, storage.Blob{Key: "e", Value: []byte("forever")}, later.Add(2*time.Hour), "forever")
	wantBlob(t, b, "e", later.Add(100*365*24*time.Hour), "forever")
}

// testBlobExpiry: a blob exists until its expiry; at the expiry it no longer does.
func testBlobExpiry(t *testing.T, b storage.BlobStore) {
	ctx := ctxFor(t)
	now := baseTime()
	exp := now.Add(10 * time.Minute)
	wantErr(t, "put", b.PutBlob(ctx, storage.Blob{Key: "x", Value: []byte("v"), Expiry: exp}), nil)
	wantErr(t, "put never", b.PutBlob(ctx, storage.Blob{Key: "never", Value: []byte("n")}), nil)
	wantBlob(t, b, "x", now, "v")
	wantBlob(t, b, "x", exp.Add(-time.Millisecond), "v")
	wantNoBlob(t, b, "x", exp)
	wantNoBlob(t, b, "x", exp.Add(time.Hour))
	// Expiry is not deletion: asked about an earlier time, the blob is there again.
	wantBlob(t, b, "x", now, "v")
	// The expiry is compared as an instant, whatever the time zone it was written in.
	wantNoBlob(t, b, "x", exp.UTC())
	wantBlob(t, b, "x", exp.Add(-time.Second).In(time.FixedZone("UTC-8", -8*3600)), "v")
	wantBlob(t, b, "never", exp.Add(100*365*24*time.Hour), "n")
}

func testBlobPut(t *testing.T, b storage.BlobStore) {
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "put v1", b.PutBlob(ctx, storage.Blob{Key: "k", Value: []byte("v1"), Expiry: now.Add(time.Hour)}), nil)
	wantBlob(t, b, "k", now, "v1")
	// PutBlob replaces a live blob, value and expiry.
	wantErr(t, "put v2", b.PutBlob(ctx, storage.Blob{Key: "k", Value: []byte("v2")}), nil)
	wantBlob(t, b, "k", now, "v2")
	wantBlob(t, b, "k", now.Add(2*time.Hour), "v2")
	wantErr(t, "put v3", b.PutBlob(ctx, storage.Blob{Key: "k", Value: []byte("v3"), Expiry: now.Add(time.Minute)}), nil)
	wantBlob(t, b, "k", now, "v3")
	wantNoBlob(t, b, "k", now.Add(2*time.Minute))
	// And an expired one.
	wantErr(t, "put v4", b.PutBlob(ctx, storage.Blob{Key: "k", Value: []byte("v4"), Expiry: now.Add(time.Hour)}), nil)
	wantBlob(t, b, "k", now.Add(2*time.Minute), "v4")
	// A blob stored by PutBlob is kept by PutBlobIfAbsent.
	putIfAbsent(t, b, storage.Blob{Key: "k", Value: []byte("v5")}, now, "v4")
}

func testBlobDelete(t *testing.T, b storage.BlobStore) {
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "delete missing", b.DeleteBlob(ctx, "k"), nil)
	putIfAbsent(t, b, storage.Blob{Key: "k", Value: []byte("one")}, now, "one")
	wantErr(t, "put other", b.PutBlob(ctx, storage.Blob{Key: "other", Value: []byte("o")}), nil)
	wantErr(t, "delete", b.DeleteBlob(ctx, "k"), nil)
	wantNoBlob(t, b, "k", now)
	wantBlob(t, b, "other", now, "o")
	wantErr(t, "delete again", b.DeleteBlob(ctx, "k"), nil)
	// Deleted, the key is free again.
	putIfAbsent(t, b, storage.Blob{Key: "k", Value: []byte("two")}, now, "two")
	// Deleting an expired blob is fine too.
	wantErr(t, "put expiring", b.PutBlob(ctx, storage.Blob{Key: "e", Value: []byte("e"), Expiry: now.Add(-time.Minute)}), nil)
	wantErr(t, "delete expired", b.DeleteBlob(ctx, "e"), nil)
	wantNoBlob(t, b, "e", now.Add(-time.Hour))
}

func testBlobDeleteExpired(t *testing.T, b storage.BlobStore) {
	ctx := ctxFor(t)
	now := baseTime()
	n, err := b.DeleteExpiredBlobs(ctx, now)
	wantErr(t, "delete expired in an empty store", err, nil)
	if n != 0 {
		t.Fatalf("DeleteExpiredBlobs on an empty store = %d", n)
	}
	blobs := []storage.Blob{
		{Key: "never", Value: []byte("n")},
		{Key: "live", Value: []byte("l"), Expiry: now.Add(time.Hour)},
		{Key: "live-soon", Value: []byte("s"), Expiry: now.Add(time.Second)},
		{Key: "expired-long-ago", Value: []byte("a"), Expiry: now.Add(-24 * time.Hour)},
		{Key: "expired", Value: []byte("b"), Expiry: now.Add(-time.Second)},
	}
	for _, bl := range blobs {
		wantErr(t, "put "+bl.Key, b.PutBlob(ctx, bl), nil)
	}
	n, err = b.DeleteExpiredBlobs(ctx, now)
	wantErr(t, "delete expired", err, nil)
	if n != 2 {
		t.Errorf("DeleteExpiredBlobs = %d, want 2", n)
	}
	// Deleted, not merely hidden: asked about a time before their expiry they are gone.
	past := now.Add(-48 * time.Hour)
	wantNoBlob(t, b, "expired-long-ago", past)
	wantNoBlob(t, b, "expired", past)
	wantBlob(t, b, "never", now, "n")
	wantBlob(t, b, "live", now, "l")
	wantBlob(t, b, "live-soon", now, "s")
	n, err = b.DeleteExpiredBlobs(ctx, now)
	wantErr(t, "delete expired again", err, nil)
	if n != 0 {
		t.Errorf("second DeleteExpiredBlobs = %d, want 0", n)
	}
	// Later, the short-lived one goes too; the blob without an expiry never does.
	n, err = b.DeleteExpiredBlobs(ctx, now.Add(time.Minute))
	wantErr(t, "delete expired later", err, nil)
	if n != 1 {
		t.Errorf("DeleteExpiredBlobs a minute later = %d, want 1", n)
	}
	n, err = b.DeleteExpiredBlobs(ctx, now.Add(100*365*24*time.Hour))
	wantErr(t, "delete expired in a century", err, nil)
	if n != 1 {
		t.Errorf("DeleteExpiredBlobs in a century = %d, want 1 (live)", n)
	}
	wantBlob(t, b, "never", now.Add(100*365*24*time.Hour), "n")
}

// testBlobRace: goroutines racing PutBlobIfAbsent on one key (as replicas starting together
// generate a key) all get the same value, one of theirs, and it is the one stored.
func testBlobRace(t *testing.T, b storage.BlobStore, overExpired bool) {
	ctx := ctxFor(t)
	now := baseTime()
	const key, racers = "saml-idp/key", 8
	if overExpired {
		wantErr(t, "put expired", b.PutBlob(ctx, storage.Blob{Key: key, Value: []byte("stale"), Expiry: now.Add(-time.Minute)}), nil)
	}
	got := make([]string, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			v, err := b.PutBlobIfAbsent(ctx, storage.Blob{Key: key, Value: fmt.Appendf(nil, "value-%d", i)}, now)
			got[i], errs[i] = string(v), err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		wantErr(t, fmt.Sprintf("racer %d", i), err, nil)
	}
	winner := got[0]
	for i, v := range got {
		if v != winner {
			t.Fatalf("racers disagree: #0 got %q, #%d got %q (all: %q)", winner, i, v, got)
		}
	}
	var valid bool
	for i := range racers {
		valid = valid || winner == fmt.Sprintf("value-%d", i)
	}
	if !valid {
		t.Fatalf("racers agree on %q, which none of them put", winner)
	}
	wantBlob(t, b, key, now, winner)
}
