package tokens

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Signing algorithms a KeyManager can be configured with.
const (
	AlgRS256 = "RS256" // RSA 2048, PKCS #1 v1.5, SHA-256 (the default; OIDC requires it)
	AlgES256 = "ES256" // ECDSA P-256, SHA-256
	AlgEdDSA = "EdDSA" // Ed25519
)

// Defaults for KeyOptions.
const (
	DefaultRotationPeriod   = 24 * time.Hour
	DefaultMaxTokenLifetime = 24 * time.Hour
	// RetireGrace is how much longer than MaxTokenLifetime a retired key stays published; it
	// covers clock skew and replicas that switch keys a little late.
	RetireGrace = 5 * time.Minute
	// maxPublishDelay caps the default PublishDelay.
	maxPublishDelay = time.Hour
	// rsaBits is the RSA modulus size of generated RS256 keys.
	rsaBits = 2048
)

// ErrNotReady is returned when no signing key is loaded (Init has not succeeded yet).
var ErrNotReady = errors.New("tokens: no signing key loaded")

// KeyOptions configures a KeyManager. Zero values take the documented defaults.
type KeyOptions struct {
	// Algorithm is the signing algorithm of new keys: "RS256" (default), "ES256" or "EdDSA".
	// Changing it causes a prompt rotation to a key of the new algorithm.
	Algorithm string
	// RotationPeriod is how long a key signs before the next one takes over (default 24h).
	RotationPeriod time.Duration
	// MaxTokenLifetime is the longest lifetime of a token signed by a key (default 24h).
	// Retired keys stay published this long plus RetireGrace; the Minter refuses to sign
	// tokens that would outlive it.
	MaxTokenLifetime time.Duration
	// PublishDelay is how long a new key is published before it signs (default
	// min(RotationPeriod/10, 1h)). Refresh must run more often than this on every replica.
	PublishDelay time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives rotation events and Run's errors (default: discarded).
	Logger *slog.Logger
	// Backend keeps the private halves (default StorageBackend). Stored keys another
	// backend owns are retired at the next Refresh and stay published for verification.
	Backend KeyBackend
}

// KeyManager keeps the signing keys: it creates and rotates them in storage and holds the
// loaded set (signers, verification keys, JWKS bytes) in memory for the hot path.
type KeyManager struct {
	store storage.KeyStore
	opt   KeyOptions
	log   *slog.Logger

	refreshMu sync.Mutex // serializes Init/Refresh on this manager
	state     atomic.Pointer[keyState]

	// A successor key is generated in the background (pregenerate), so that Refresh keeps
	// loading what other replicas commit while RSA takes its time.
	genMu  sync.Mutex
	pregen *storage.SigningKey // a generated key not yet used
	genErr error               // the last background generation's failure
	genRun chan struct{}       // open while a background generation runs
	// generate makes a key pair (generateKey; tests slow it down).
	generate func(alg string) (storage.SigningKey, error)
}

// keyState is an immutable snapshot of the loaded key set.
type keyState struct {
	records []storage.SigningKey // as stored, for change detection
	// signers are the unretired keys, by ActiveFrom ascending.
	signers []*signingKey
	// verify holds every published key by kid.
	verify map[string]*verifyKey
	// algs are the algorithms of the published keys (the verification allow-list).
	algs     []jose.SignatureAlgorithm
	algNames []string // for discovery; configured algorithm first
	jwks     []byte
	etag     string
}

// signingKey is a key that signs (or will sign), with its prepared signers.
type signingKey struct {
	kid          string
	alg          jose.SignatureAlgorithm
	activeFrom   time.Time
	priv         []byte      // the stored private JWK, to reuse this entry across reloads
	idSigner     jose.Signer // typ JWT
	atSigner     jose.Signer // typ at+jwt
	logoutSigner jose.Signer // typ logout+jwt (Back-Channel Logout 1.0)
	halfHash     crypto.Hash // for at_hash / c_hash
}

// verifyKey is a published key prepared for verification.
type verifyKey struct {
	alg    jose.SignatureAlgorithm
	pub    crypto.PublicKey
	pubJWK []byte // public JWK as published
	src    []byte // the stored JWK it was parsed from, to reuse this entry across reloads
}

// NewKeyManager returns a KeyManager over store. Call Init before use.
func NewKeyManager(store storage.KeyStore, opt KeyOptions) *KeyManager {
	if opt.Algorithm == "" {
		opt.Algorithm = AlgRS256
	}
	if opt.RotationPeriod <= 0 {
		opt.RotationPeriod = DefaultRotationPeriod
	}
	if opt.MaxTokenLifetime <= 0 {
		opt.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if opt.PublishDelay <= 0 || opt.PublishDelay >= opt.RotationPeriod {
		opt.PublishDelay = min(opt.RotationPeriod/10, maxPublishDelay)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.Backend == nil {
		opt.Backend = StorageBackend{}
	}
	return &KeyManager{store: store, opt: opt, log: log, generate: opt.Backend.Generate}
}

// Init loads the keys, creating or rotating them under UpdateSigningKeys when none is
// active or rotation is due. It fails if no usable signing key results, including for an
// unsupported configured Algorithm.
func (m *KeyManager) Init(ctx context.Context) error {
	if _, _, err := algorithmInfo(m.opt.Algorithm); err != nil {
		return err
	}
	if err := m.Refresh(ctx); err != nil {
		return err
	}
	if !m.Ready() {
		return fmt.Errorf("tokens: init: %w", ErrNotReady)
	}
	return nil
}

// Refresh rotates if due and reloads the key set from storage. Whether to rotate is decided
// inside UpdateSigningKeys' callback from the stored set, so among replicas exactly one
// rotates; the exclusive transaction is only entered when the listed set says maintenance
// is due. When nothing changed Refresh costs one ListSigningKeys and a comparison.
func (m *KeyManager) Refresh(ctx context.Context) error {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()

	now := m.opt.Now()
	cur, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("tokens: list signing keys: %w", err)
	}

	// Dry run on the listed set: is anything due, and will a key be needed?
	needKey := false
	_, due, err := m.plan(cur, now, func(alg string, activeFrom time.Time) (storage.SigningKey, error) {
		needKey = true
		return storage.SigningKey{Algorithm: alg, CreatedAt: now, ActiveFrom: activeFrom}, nil
	})
	if err != nil {
		return err
	}
	if !due {
		// A successor generated for a rotation another replica did is not kept for the next
		// one: in a token it would be a key nobody knows about until then.
		m.destroy(ctx, "another replica rotated", m.takePregenerated())
		return m.load(cur, now)
	}

	// The key is generated outside the exclusive transaction (RSA takes a while) and, while a
	// loaded key still signs, outside Refresh too: every replica sees the rotation due at about
	// the same moment, and one busy for a second generating a key another replica's wins over
	// would not load the winner's key meanwhile, so it could neither verify nor publish what
	// the winner signs once the key activates (the publish delay is the whole margin).
	var pregen *storage.SigningKey
	switch {
	case needKey && !m.canSign(): // nothing loaded signs (first start): generate here
		k, err := m.generate(m.opt.Algorithm)
		if err != nil {
			return err
		}
		pregen = &k
	case needKey:
		k, ready, err := m.pregenerated()
		if err != nil {
			return err
		}
		if !ready {
			return m.load(cur, now) // a later Refresh rotates, once the key is ready
		}
		pregen = &k
	}
	// generated are the key pairs made for this Refresh; those not committed are destroyed
	// after it (a token would otherwise keep the loser's keys), as are the keys it drops.
	var generated, dropped []storage.SigningKey
	if pregen != nil {
		generated = append(generated, *pregen)
	}
	var result, created []storage.SigningKey
	ran := false
	err = m.store.UpdateSigningKeys(ctx, func(current []storage.SigningKey) ([]storage.SigningKey, bool, error) {
		ran = true
		created = created[:0]
		// Plan with the time inside the lease, after key generation and any wait for the
		// lock: a new key's ActiveFrom must still be a full PublishDelay away when it is
		// committed, or other replicas could see tokens it signed before they load it.
		now = m.opt.Now()
		next, changed, err := m.plan(current, now, func(alg string, activeFrom time.Time) (storage.SigningKey, error) {
			var k storage.SigningKey
			if pregen != nil && pregen.Algorithm == alg {
				k = *pregen
			} else {
				var err error
				if k, err = m.generate(alg); err != nil {
					return k, err
				}
				generated = append(generated, k)
			}
			k.CreatedAt = storageTime(now)
			k.ActiveFrom = storageTime(activeFrom)
			created = append(created, k)
			return k, nil
		})
		if err != nil {
			return nil, false, err
		}
		dropped = dropped[:0]
		if changed {
			result = next
			dropped = missingKeys(current, next)
		} else {
			result = current
		}
		return next, changed, nil
	})
	if err != nil {
		// Keep serving with what is stored.
		if lerr := m.load(cur, now); lerr != nil {
			m.log.ErrorContext(ctx, "loading signing keys", "err", lerr)
		}
		return fmt.Errorf("tokens: update signing keys: %w", err)
	}
	if !ran { // a store that did not call back: read what is there
		if result, err = m.store.ListSigningKeys(ctx); err != nil {
			return fmt.Errorf("tokens: list signing keys: %w", err)
		}
	}
	for _, k := range created {
		m.log.InfoContext(ctx, "created signing key", "kid", k.ID, "alg", k.Algorithm, "active_from", k.ActiveFrom)
	}
	m.destroy(ctx, "expired", dropped)
	m.destroy(ctx, "not used", missingKeys(generated, result))
	return m.load(result, now)
}

// destroy deletes the private halves of keys no longer (or never) stored; a failure is
// logged (the key stays in the token, unused) and does not fail the Refresh.
func (m *KeyManager) destroy(ctx context.Context, why string, keys []storage.SigningKey) {
	for _, k := range keys {
		if !m.opt.Backend.Owns(k) {
			continue
		}
		if err := m.opt.Backend.Destroy(k); err != nil {
			m.log.ErrorContext(ctx, "destroying signing key", "kid", k.ID, "reason", why, "backend", m.opt.Backend.Name(), "err", err)
			continue
		}
		if m.opt.Backend.Name() != BackendStorage {
			m.log.InfoContext(ctx, "destroyed signing key", "kid", k.ID, "reason", why, "backend", m.opt.Backend.Name())
		}
	}
}

// missingKeys returns the keys of from whose ID is not in in.
func missingKeys(from, in []storage.SigningKey) []storage.SigningKey {
	var out []storage.SigningKey
	for _, k := range from {
		if !slices.ContainsFunc(in, func(x storage.SigningKey) bool { return x.ID == k.ID }) {
			out = append(out, k)
		}
	}
	return out
}

// pregenerated returns a key generated in the background, if one is ready; otherwise it
// starts a generation (unless one runs) and reports not ready. A failed generation is
// returned once, and the next call tries again.
func (m *KeyManager) pregenerated() (storage.SigningKey, bool, error) {
	m.genMu.Lock()
	defer m.genMu.Unlock()
	if m.pregen != nil {
		k := *m.pregen
		m.pregen = nil
		return k, true, nil
	}
	if err := m.genErr; err != nil {
		m.genErr = nil
		return storage.SigningKey{}, false, err
	}
	if m.genRun == nil {
		done := make(chan struct{})
		m.genRun = done
		go func(alg string) {
			k, err := m.generate(alg)
			m.genMu.Lock()
			defer m.genMu.Unlock()
			if err != nil {
				m.genErr = err
			} else {
				m.pregen = &k
			}
			m.genRun = nil
			close(done)
		}(m.opt.Algorithm)
	}
	return storage.SigningKey{}, false, nil
}

// takePregenerated returns and forgets a key generated in the background, if one is ready.
func (m *KeyManager) takePregenerated() []storage.SigningKey {
	m.genMu.Lock()
	defer m.genMu.Unlock()
	if m.pregen == nil {
		return nil
	}
	k := *m.pregen
	m.pregen = nil
	return []storage.SigningKey{k}
}

// AwaitGeneration waits until no background key generation runs (tests forcing a rotation
// use it; a successor key is generated in the background while the current one signs).
func (m *KeyManager) AwaitGeneration() {
	m.genMu.Lock()
	run := m.genRun
	m.genMu.Unlock()
	if run != nil {
		<-run
	}
}

// canSign reports whether the loaded key set has a key that signs.
func (m *KeyManager) canSign() bool {
	s := m.state.Load()
	return s != nil && len(s.signers) > 0
}

// Run calls Refresh every interval until ctx ends, logging errors. The interval must be
// shorter than the PublishDelay for new keys to reach this replica before they sign.
func (m *KeyManager) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	if interval >= m.opt.PublishDelay {
		m.log.WarnContext(ctx, "signing-key refresh interval is not shorter than the publish delay; other replicas may sign with keys this one does not publish yet",
			"interval", interval, "publish_delay", m.opt.PublishDelay)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
				m.log.ErrorContext(ctx, "refreshing signing keys", "err", err)
			}
		}
	}
}

// JWKS returns the published key set as JSON and its strong ETag (quoted). Both are fixed
// until the key set changes; callers must not modify body.
func (m *KeyManager) JWKS() (body []byte, etag string) {
	s := m.state.Load()
	if s == nil {
		return []byte(`{"keys":[]}`), `"empty"`
	}
	return s.jwks, s.etag
}

// Ready reports whether a signing key is loaded.
func (m *KeyManager) Ready() bool {
	s := m.state.Load()
	return s != nil && len(s.signers) > 0
}

// SigningKeyAge is how long the key that signs now has been signing (0 before Init).
func (m *KeyManager) SigningKeyAge() time.Duration {
	s := m.state.Load()
	if s == nil || len(s.signers) == 0 {
		return 0
	}
	now := m.opt.Now()
	return max(now.Sub(s.signer(now).activeFrom), 0)
}

// Algorithms lists the signing algorithms tokens may carry (for discovery), the configured
// one first, e.g. ["RS256"]. It changes only when the key set does.
func (m *KeyManager) Algorithms() []string {
	s := m.state.Load()
	if s == nil || len(s.algNames) == 0 {
		return []string{m.opt.Algorithm}
	}
	return slices.Clone(s.algNames)
}

// signer returns the key that signs at now: the unretired key with the latest ActiveFrom not
// after now (so a replica switches to a published successor on time even between
// refreshes), or the earliest one when every key is still pending (clock skew).
func (s *keyState) signer(now time.Time) *signingKey {
	for i := len(s.signers) - 1; i >= 0; i-- {
		if !now.Before(s.signers[i].activeFrom) {
			return s.signers[i]
		}
	}
	return s.signers[0]
}

// plan computes the key set at now from cur: expired keys dropped, superseded keys retired,
// a key created (via newKey) when none is active, when rotation is due or when the
// configured algorithm changed. It is pure apart from newKey, so a store may call it again.
func (m *KeyManager) plan(cur []storage.SigningKey, now time.Time,
	newKey func(alg string, activeFrom time.Time) (storage.SigningKey, error),
) ([]storage.SigningKey, bool, error) {
	next := make([]storage.SigningKey, 0, len(cur)+1)
	changed := false
	retire := func(k *storage.SigningKey, at time.Time) {
		k.RetiredAt = storageTime(at)
		k.ExpiresAt = storageTime(at.Add(m.opt.MaxTokenLifetime + RetireGrace))
		changed = true
	}
	for _, k := range cur {
		if !k.RetiredAt.IsZero() && k.ExpiresAt.IsZero() { // inconsistent; repair
			retire(&k, k.RetiredAt)
		}
		next = append(next, k)
	}

	// Unretired keys by ActiveFrom.
	var live []int
	for i := range next {
		if next[i].RetiredAt.IsZero() {
			live = append(live, i)
		}
	}
	slices.SortStableFunc(live, func(a, b int) int { return next[a].ActiveFrom.Compare(next[b].ActiveFrom) })

	// Retire every active key that a later active key superseded, and pending keys of an
	// algorithm no longer configured (kept published in case a skewed replica used them).
	signer := -1
	var pending []int
	for _, i := range live {
		k := &next[i]
		switch {
		case !m.opt.Backend.Owns(*k):
			// Another backend's key (signing.backend changed): this one cannot sign with
			// it, so it retires now and a key of ours signs at once.
			retire(k, now)
		case !now.Before(k.ActiveFrom):
			if signer >= 0 {
				retire(&next[signer], k.ActiveFrom)
			}
			signer = i
		case k.Algorithm != m.opt.Algorithm:
			retire(k, now)
		default:
			pending = append(pending, i)
		}
	}

	switch {
	case signer < 0 && len(pending) > 0:
		// Nothing signs but a successor is published: bring it forward.
		next[pending[0]].ActiveFrom = storageTime(now)
		changed = true
	case signer < 0:
		k, err := newKey(m.opt.Algorithm, now)
		if err != nil {
			return nil, false, err
		}
		next = append(next, k)
		changed = true
	case len(pending) == 0 && (next[signer].Algorithm != m.opt.Algorithm ||
		!now.Before(next[signer].ActiveFrom.Add(m.opt.RotationPeriod-m.opt.PublishDelay))):
		k, err := newKey(m.opt.Algorithm, now.Add(m.opt.PublishDelay))
		if err != nil {
			return nil, false, err
		}
		next = append(next, k)
		changed = true
	}

	// Drop keys past their expiry.
	kept := next[:0]
	for _, k := range next {
		if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
			changed = true
			continue
		}
		kept = append(kept, k)
	}
	return kept, changed, nil
}

// load builds a new snapshot from recs (reusing parsed keys of the current one) unless the
// set is unchanged.
func (m *KeyManager) load(recs []storage.SigningKey, now time.Time) error {
	old := m.state.Load()
	if old != nil && sameKeys(old.records, recs) {
		return nil
	}
	oldSigners := map[string]*signingKey{}
	oldVerify := map[string]*verifyKey{}
	if old != nil {
		for _, s := range old.signers {
			oldSigners[s.kid] = s
		}
		oldVerify = old.verify
	}

	s := &keyState{records: slices.Clone(recs), verify: map[string]*verifyKey{}}
	published := make([]storage.SigningKey, 0, len(recs))
	var errs []error
	for _, r := range recs {
		if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
			continue
		}
		vk := oldVerify[r.ID]
		if vk == nil || !bytes.Equal(vk.src, jwkSource(r)) {
			var err error
			if vk, err = parseVerifyKey(r); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		s.verify[r.ID] = vk
		published = append(published, r)

		if !r.RetiredAt.IsZero() || !m.opt.Backend.Owns(r) {
			continue // verifies only (another backend's key is retired at the next Refresh)
		}
		sk := oldSigners[r.ID]
		if sk == nil || !bytes.Equal(sk.priv, r.PrivateJWK) {
			var err error
			if sk, err = m.newSigningKey(r); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if !sk.activeFrom.Equal(r.ActiveFrom) { // brought forward; entries are shared, so copy
			c := *sk
			c.activeFrom = r.ActiveFrom
			sk = &c
		}
		s.signers = append(s.signers, sk)
	}
	slices.SortStableFunc(s.signers, func(a, b *signingKey) int { return a.activeFrom.Compare(b.activeFrom) })

	// JWKS: newest first.
	slices.SortStableFunc(published, func(a, b storage.SigningKey) int { return b.ActiveFrom.Compare(a.ActiveFrom) })
	var buf bytes.Buffer
	buf.WriteString(`{"keys":[`)
	for i, r := range published {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(s.verify[r.ID].pubJWK)
		alg := s.verify[r.ID].alg
		if !slices.Contains(s.algs, alg) {
			s.algs = append(s.algs, alg)
		}
	}
	buf.WriteString(`]}`)
	s.jwks = buf.Bytes()
	sum := sha256.Sum256(s.jwks)
	s.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`

	cfg := jose.SignatureAlgorithm(m.opt.Algorithm)
	if slices.Contains(s.algs, cfg) {
		s.algNames = append(s.algNames, m.opt.Algorithm)
	}
	for _, a := range s.algs {
		if a != cfg {
			s.algNames = append(s.algNames, string(a))
		}
	}

	m.state.Store(s)
	if len(errs) > 0 {
		err := errors.Join(errs...)
		m.log.Error("unusable signing keys in storage", "err", err)
		return fmt.Errorf("tokens: loading signing keys: %w", err)
	}
	return nil
}

// sameKeys reports whether two stored key sets are identical.
func sameKeys(a, b []storage.SigningKey) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.ID != y.ID || x.Algorithm != y.Algorithm ||
			!x.CreatedAt.Equal(y.CreatedAt) || !x.ActiveFrom.Equal(y.ActiveFrom) ||
			!x.RetiredAt.Equal(y.RetiredAt) || !x.ExpiresAt.Equal(y.ExpiresAt) ||
			!bytes.Equal(x.PrivateJWK, y.PrivateJWK) || !bytes.Equal(x.PublicJWK, y.PublicJWK) {
			return false
		}
	}
	return true
}

// algorithmInfo maps a configured algorithm to its JOSE name and the hash used for
// at_hash and c_hash.
func algorithmInfo(alg string) (jose.SignatureAlgorithm, crypto.Hash, error) {
	switch alg {
	case AlgRS256:
		return jose.RS256, crypto.SHA256, nil
	case AlgES256:
		return jose.ES256, crypto.SHA256, nil
	case AlgEdDSA:
		return jose.EdDSA, crypto.SHA512, nil
	}
	return "", 0, fmt.Errorf("tokens: unsupported signing algorithm %q (want RS256, ES256 or EdDSA)", alg)
}

// jwkSource is the stored JWK a key's public half is derived from.
func jwkSource(r storage.SigningKey) []byte {
	if _, ref := ParseKeyRef(r.PrivateJWK); len(r.PrivateJWK) > 0 && !ref {
		return r.PrivateJWK
	}
	return r.PublicJWK
}

// parseVerifyKey derives the public key of a stored key (from its private JWK when present,
// so only public material is ever published) and checks it fits the algorithm.
func parseVerifyKey(r storage.SigningKey) (*verifyKey, error) {
	alg, _, err := algorithmInfo(r.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", r.ID, err)
	}
	src := jwkSource(r)
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(src); err != nil {
		return nil, fmt.Errorf("key %q: parse JWK: %w", r.ID, err)
	}
	pub := jwk.Public()
	if !pub.Valid() {
		return nil, fmt.Errorf("key %q: invalid public key", r.ID)
	}
	if !keyFits(alg, pub.Key) {
		return nil, fmt.Errorf("key %q: %T is not a %s key", r.ID, pub.Key, alg)
	}
	pubJWK, err := jose.JSONWebKey{Key: pub.Key, KeyID: r.ID, Algorithm: string(alg), Use: "sig"}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("key %q: marshal public JWK: %w", r.ID, err)
	}
	return &verifyKey{alg: alg, pub: pub.Key, pubJWK: pubJWK, src: bytes.Clone(src)}, nil
}

// keyFits reports whether pub is a key of the type and size alg requires.
func keyFits(alg jose.SignatureAlgorithm, pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return alg == jose.RS256 && k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return alg == jose.ES256 && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// newSigningKey finds a stored key's private half through the backend and prepares its
// signers.
func (m *KeyManager) newSigningKey(r storage.SigningKey) (*signingKey, error) {
	alg, hash, err := algorithmInfo(r.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", r.ID, err)
	}
	signer, err := m.opt.Backend.Signer(r)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", r.ID, err)
	}
	var key any = signer
	switch signer.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey: // go-jose signs these itself
	default: // a token's key: go-jose hands it the digest
		key = cryptosigner.Opaque(signer)
	}
	sk := jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: r.ID, Algorithm: string(alg)}}
	idSigner, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("key %q: signer: %w", r.ID, err)
	}
	atSigner, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, fmt.Errorf("key %q: signer: %w", r.ID, err)
	}
	logoutSigner, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return nil, fmt.Errorf("key %q: signer: %w", r.ID, err)
	}
	return &signingKey{
		kid: r.ID, alg: alg, activeFrom: r.ActiveFrom, priv: bytes.Clone(r.PrivateJWK),
		idSigner: idSigner, atSigner: atSigner, logoutSigner: logoutSigner, halfHash: hash,
	}, nil
}

// storageTime normalizes a time the way storage keeps it (UTC, millisecond precision), so
// a reload compares equal to what was written.
func storageTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Millisecond)
}
