package tokens

import (
	"context"
	"fmt"
	"slices"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RotateNow schedules a rotation at once (the admin API's "rotate now"): a new key of the
// configured algorithm is stored, published in the JWKS now and signing after PublishDelay
// (so every replica loads it before it signs); the current key then retires and stays
// published for verification until every token it signed has expired. When a successor is
// already pending, that one is returned and nothing is added. Among replicas the decision is
// taken inside UpdateSigningKeys, so two concurrent calls add one key.
func (m *KeyManager) RotateNow(ctx context.Context) (storage.SigningKey, error) {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	k, err := m.generate(m.opt.Algorithm)
	if err != nil {
		return storage.SigningKey{}, err
	}
	var next storage.SigningKey
	var result []storage.SigningKey
	err = m.store.UpdateSigningKeys(ctx, func(cur []storage.SigningKey) ([]storage.SigningKey, bool, error) {
		now := m.opt.Now()
		result = cur
		for _, c := range cur {
			if c.RetiredAt.IsZero() && now.Before(c.ActiveFrom) && c.Algorithm == m.opt.Algorithm {
				next = c // already scheduled
				return cur, false, nil
			}
		}
		k.CreatedAt, k.ActiveFrom = storageTime(now), storageTime(now.Add(m.opt.PublishDelay))
		next = k
		result = append(slices.Clone(cur), k)
		return result, true, nil
	})
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("tokens: rotate now: %w", err)
	}
	if result, err = m.store.ListSigningKeys(ctx); err != nil {
		return storage.SigningKey{}, fmt.Errorf("tokens: list signing keys: %w", err)
	}
	if err := m.load(result, m.opt.Now()); err != nil {
		return storage.SigningKey{}, err
	}
	m.log.InfoContext(ctx, "signing key rotation scheduled", "kid", next.ID, "active_from", next.ActiveFrom)
	return next, nil
}

// Keys lists the stored signing keys (public parts only are meant to be shown).
func (m *KeyManager) Keys(ctx context.Context) ([]storage.SigningKey, error) {
	return m.store.ListSigningKeys(ctx)
}
