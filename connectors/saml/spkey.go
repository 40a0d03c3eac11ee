package saml

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Defaults of the generated SP key (sign_requests without sp_key/sp_cert).
const (
	// DefaultSPKeyRotation is how long a generated SP key signs when
	// Config.SPKeyRotation is zero.
	DefaultSPKeyRotation = 365 * 24 * time.Hour
	// MinSPKeyRotation is the smallest accepted Config.SPKeyRotation.
	MinSPKeyRotation = time.Hour
	// DefaultSPKeyGrace is how long the next generated certificate is published before it
	// signs, and the replaced one stays in the SP metadata (its key decrypting) after, when
	// Config.SPKeyGrace is zero; capped at half the rotation period.
	DefaultSPKeyGrace = 30 * 24 * time.Hour
)

// spKeyBits is the size of a generated RSA SP key.
const spKeyBits = 2048

// keyPair is one SP key and its certificate.
type keyPair struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// spKeys is the SP key material in force: the signing pair; during the grace period before a
// rotation, the pair that will replace it (published early); during the grace period after
// one, the pair it replaced. until is when it must be read again.
type spKeys struct {
	cur   keyPair
	next  *keyPair
	prev  *keyPair
	until time.Time
}

// keyRing generates, stores and rotates the SP key when sign_requests is set without
// sp_key/sp_cert. Every replica derives the same schedule from one anchor time stored once
// (put-if-absent): generation g signs during [anchor+g*period, anchor+(g+1)*period), and its
// key pair is stored once under its number, so all replicas sign with the same key. The
// next generation's pair is created and published grace before it starts signing, and the
// previous one stays (metadata, decryption) for grace after; the stored pairs expire then
// and the GC deletes them. Names carry the period, so a changed sp_key_rotation starts a new
// schedule with a new key.
type keyRing struct {
	store    connectors.KeyStore
	period   time.Duration
	grace    time.Duration
	subject  string // certificate common name (the SP entity ID)
	now      func() time.Time
	generate func(subject string, notBefore, notAfter time.Time) ([]byte, error)
	logger   *slog.Logger

	mu     sync.Mutex
	anchor time.Time
	cur    *spKeys
}

// get returns the key material in force, reading (and, at a new generation, creating) it in
// the store when the cached one has run out.
func (k *keyRing) get(ctx context.Context) (*spKeys, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if k.cur != nil && now.Before(k.cur.until) {
		return k.cur, nil
	}
	if k.anchor.IsZero() {
		a, err := k.loadAnchor(ctx, now)
		if err != nil {
			return nil, err
		}
		k.anchor = a
	}
	keys, err := k.load(ctx, now)
	if err != nil {
		return nil, err
	}
	k.cur = keys
	return keys, nil
}

// load reads the generation in force at now and its neighbours within their grace periods.
func (k *keyRing) load(ctx context.Context, now time.Time) (*spKeys, error) {
	g := int64(0)
	if d := now.Sub(k.anchor); d > 0 {
		g = int64(d / k.period)
	}
	start := k.anchor.Add(time.Duration(g) * k.period)
	end := start.Add(k.period)
	cur, err := k.generation(ctx, g, true)
	if err != nil {
		return nil, err
	}
	keys := &spKeys{cur: *cur, until: end}
	if dropAt := start.Add(k.grace); g > 0 && now.Before(dropAt) {
		prev, err := k.generation(ctx, g-1, false)
		switch {
		case errors.Is(err, connectors.ErrKeyNotFound):
			// No replica ran during the previous generation: nothing to keep.
		case err != nil:
			return nil, err
		default:
			keys.prev, keys.until = prev, dropAt
		}
	}
	if publishAt := end.Add(-k.grace); now.Before(publishAt) {
		keys.until = minTime(keys.until, publishAt)
	} else if keys.next, err = k.generation(ctx, g+1, true); err != nil {
		return nil, err
	}
	return keys, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// loadAnchor returns the stored start of the schedule, storing now the first time.
func (k *keyRing) loadAnchor(ctx context.Context, now time.Time) (time.Time, error) {
	v, err := k.store.PutIfAbsent(ctx, k.name("anchor"), []byte(now.UTC().Format(time.RFC3339Nano)), time.Time{})
	if err != nil {
		return time.Time{}, fmt.Errorf("saml: store SP key schedule: %w", err)
	}
	a, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("saml: stored SP key schedule: %w", err)
	}
	return a, nil
}

// generation returns generation g's key pair; create generates and stores it when absent
// (the first replica to store wins), otherwise an absent pair is ErrKeyNotFound.
func (k *keyRing) generation(ctx context.Context, g int64, create bool) (*keyPair, error) {
	name := k.name(strconv.FormatInt(g, 10))
	v, err := k.store.Get(ctx, name)
	if errors.Is(err, connectors.ErrKeyNotFound) && create {
		start := k.anchor.Add(time.Duration(g) * k.period)
		expires := start.Add(k.period + k.grace)
		notBefore := minTime(k.now(), start).Add(-time.Hour) // valid while published early
		var pemBytes []byte
		if pemBytes, err = k.generate(k.subject, notBefore, expires); err != nil {
			return nil, err
		}
		v, err = k.store.PutIfAbsent(ctx, name, pemBytes, expires)
		if err == nil && bytes.Equal(v, pemBytes) {
			k.logger.InfoContext(ctx, "saml: generated an SP key and published it in the SP metadata; an IdP that does not read the metadata needs its certificate before it signs",
				"generation", g, "signs_from", start.UTC().Format(time.RFC3339), "signs_until", start.Add(k.period).UTC().Format(time.RFC3339))
		}
	}
	if errors.Is(err, connectors.ErrKeyNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("saml: SP key generation %d: %w", g, err)
	}
	return parseKeyPair(v)
}

// name is the store name of an item of this schedule.
func (k *keyRing) name(item string) string {
	return "sp-key/" + strconv.FormatInt(int64(k.period/time.Second), 10) + "s/" + item
}

// generateKeyPair makes an RSA key and a self-signed certificate for it, PEM-encoded
// together (PKCS#8 key, then certificate).
func generateKeyPair(subject string, notBefore, notAfter time.Time) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, spKeyBits)
	if err != nil {
		return nil, fmt.Errorf("saml: generate SP key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("saml: certificate serial: %w", err)
	}
	cn := subject
	if len(cn) > 64 {
		cn = cn[:64]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Gatehouse SAML SP"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("saml: self-signed SP certificate: %w", err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("saml: encode SP key: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...), nil
}

// parseKeyPair reads a stored pair: an RSA private key and a certificate that matches it.
func parseKeyPair(b []byte) (*keyPair, error) {
	key, err := parseRSAKey(b)
	if err != nil {
		return nil, fmt.Errorf("saml: stored SP key: %w", err)
	}
	certs, err := parseCerts(b)
	if err != nil {
		return nil, fmt.Errorf("saml: stored SP certificate: %w", err)
	}
	if !publicKeysEqual(certs[0].PublicKey, key.Public()) {
		return nil, errors.New("saml: stored SP certificate does not match its key")
	}
	return &keyPair{key: key, cert: certs[0]}, nil
}
