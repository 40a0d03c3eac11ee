package samlidp

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTokenKeys keeps RSA keys by id and hands out signers that are not *rsa.PrivateKey.
type fakeTokenKeys struct {
	mu        sync.Mutex
	keys      map[string]*rsa.PrivateKey
	destroyed []string
}

type opaqueSigner struct{ crypto.Signer }

func (f *fakeTokenKeys) GenerateRSAKey(id string) (crypto.Signer, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[id] = k
	return opaqueSigner{k}, nil
}

func (f *fakeTokenKeys) FindKey(id string) (crypto.Signer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, ok := f.keys[id]; ok {
		return opaqueSigner{k}, nil
	}
	return nil, nil
}

func (f *fakeTokenKeys) DestroyKey(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, id)
	f.destroyed = append(f.destroyed, id)
	return nil
}

func TestLoadOrGenerateTokenKey(t *testing.T) {
	blobs := &memBlobs{m: map[string][]byte{}}
	keys := &fakeTokenKeys{keys: map[string]*rsa.PrivateKey{}}
	ctx, now := context.Background(), time.Now()
	type result struct {
		s    crypto.Signer
		cert []byte
		err  error
	}
	results := make([]result, 3)
	var wg sync.WaitGroup
	for i := range results { // three replicas starting together
		wg.Go(func() {
			s, c, err := LoadOrGenerateTokenKey(ctx, blobs, keys, testBase, now)
			results[i] = result{s, nil, err}
			if c != nil {
				results[i].cert = c.Raw
			}
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("replica %d: %v", i, r.err)
		}
		if string(r.cert) != string(results[0].cert) {
			t.Errorf("replica %d has another certificate", i)
		}
	}
	if len(keys.keys) != 1 {
		t.Errorf("%d keys left in the token, want 1 (destroyed %v)", len(keys.keys), keys.destroyed)
	}

	// The IdP signs through the signer; the transient key derives from it, the same on every replica.
	s, cert, err := LoadOrGenerateTokenKey(ctx, blobs, keys, testBase, now)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{BaseURL: testBase, Signer: s, Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{BaseURL: testBase, Signer: results[1].s, Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	if string(a.transientKey) != string(b.transientKey) || len(a.transientKey) != 32 {
		t.Error("replicas derive different transient NameID keys")
	}
	if _, err := a.signingContext(); err != nil {
		t.Errorf("signing context: %v", err)
	}

	// The key gone from the token, or another key under its id: start fails, saying so.
	for id := range keys.keys {
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		keys.keys[id] = other
		if _, _, err := LoadOrGenerateTokenKey(ctx, blobs, keys, testBase, now); err == nil || !strings.Contains(err.Error(), "does not match its certificate") {
			t.Errorf("another key under the id: %v", err)
		}
		delete(keys.keys, id)
		if _, _, err := LoadOrGenerateTokenKey(ctx, blobs, keys, testBase, now); err == nil || !strings.Contains(err.Error(), "is not in the token") {
			t.Errorf("key missing from the token: %v", err)
		}
	}
	if _, _, err := LoadOrGenerateTokenKey(ctx, nil, keys, testBase, now); err == nil {
		t.Error("no blob store: no error")
	}
	if _, err := New(Options{BaseURL: testBase, Signer: opaqueSigner{mustRSA(t)}, Cert: cert}); err == nil {
		t.Error("a signer that is not the certificate's key was accepted")
	}
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
