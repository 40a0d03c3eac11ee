package dpop

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// nonceKeyBlob is where the nonce key every replica shares is kept.
const nonceKeyBlob = "dpop-nonce-key"

// Nonces issues and checks DPoP server nonces (RFC 9449 8) without per-nonce state: a nonce
// is a time slot and a MAC of it under a key every replica shares (generated once, kept in
// storage). A nonce is accepted during its slot and the next, so a client refreshes it at
// least every two periods; a client cannot make nonces for slots to come.
type Nonces struct {
	store  storage.BlobStore
	period time.Duration

	mu  sync.Mutex
	key []byte
}

// NewNonces returns nonces of the given period whose key is kept in store.
func NewNonces(store storage.BlobStore, period time.Duration) *Nonces {
	return &Nonces{store: store, period: period}
}

// loadKey returns the shared key, creating it in storage on first use (the first replica's
// key wins). A storage failure is returned and tried again next time.
func (n *Nonces) loadKey(ctx context.Context, now time.Time) ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.key != nil {
		return n.key, nil
	}
	mine := make([]byte, 32)
	if _, err := rand.Read(mine); err != nil {
		return nil, fmt.Errorf("dpop: nonce key: %w", err)
	}
	got, err := n.store.PutBlobIfAbsent(ctx, storage.Blob{Key: nonceKeyBlob, Value: mine}, now)
	if err != nil {
		return nil, fmt.Errorf("dpop: nonce key: %w", err)
	}
	if len(got) != 32 {
		return nil, fmt.Errorf("dpop: nonce key: stored key has %d bytes", len(got))
	}
	n.key = got
	return got, nil
}

func (n *Nonces) slot(now time.Time) uint64 {
	return uint64(now.UnixNano() / int64(n.period))
}

func (n *Nonces) make(key []byte, slot uint64) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], slot)
	m := hmac.New(sha256.New, key)
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Issue returns the nonce of now's slot (for the DPoP-Nonce response header).
func (n *Nonces) Issue(ctx context.Context, now time.Time) (string, error) {
	key, err := n.loadKey(ctx, now)
	if err != nil {
		return "", err
	}
	return n.make(key, n.slot(now)), nil
}

// Valid reports whether nonce is the nonce of now's slot or the one before.
func (n *Nonces) Valid(ctx context.Context, nonce string, now time.Time) (bool, error) {
	if nonce == "" || len(nonce) > 64 {
		return false, nil
	}
	key, err := n.loadKey(ctx, now)
	if err != nil {
		return false, err
	}
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 24 {
		return false, nil
	}
	s, cur := binary.BigEndian.Uint64(b[:8]), n.slot(now)
	if s != cur && s+1 != cur {
		return false, nil
	}
	return hmac.Equal([]byte(nonce), []byte(n.make(key, s))), nil
}
