package mfa

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/ratelimit"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Errors of the verification methods. Wrap-tested with errors.Is.
var (
	// ErrInvalidCode: the code or assertion is wrong (counts against the rate limit).
	ErrInvalidCode = errors.New("mfa: invalid code")
	// ErrReplayed: the TOTP code's time step or the recovery code was already used.
	ErrReplayed = errors.New("mfa: code already used")
	// ErrExpired: an enrolment or ceremony state is too old; start again.
	ErrExpired = errors.New("mfa: state expired")
	// ErrWebAuthnDisabled: WebAuthn is not configured (mfa.webauthn).
	ErrWebAuthnDisabled = errors.New("mfa: webauthn is not configured")
	// ErrCloned: a WebAuthn signature counter did not grow: the authenticator may be cloned.
	ErrCloned = errors.New("mfa: authenticator signature counter did not increase")
	// ErrNoFactor: the user has no factor of the kind asked for.
	ErrNoFactor = errors.New("mfa: no such factor")
)

// Options configure a Service.
type Options struct {
	Store storage.MFAStore
	// IssuerName is shown in authenticator apps ("Example Corp").
	IssuerName string
	// SecretsKey seals ceremony state and keys recovery-code hashes, and seals TOTP secrets
	// unless StoreSeals; at least MinSecretsKeyLen characters.
	SecretsKey string
	// StoreSeals: Store seals factor secrets at rest itself (storage.SealingStore, the
	// secrets.keys mechanism), so new TOTP secrets are handed to it as they are, under the one
	// rotatable sealing of every secret. False: the service seals them under SecretsKey.
	// Either way TOTP secrets sealed by the service earlier stay readable.
	StoreSeals bool
	// WebAuthn enables security keys and passkeys when RPID is set.
	WebAuthn WebAuthnOptions
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger receives what the service does on the side of a request and must not fail it
	// (moving a secret to the store's sealing); nil: discarded.
	Logger *slog.Logger
	// Attempts keeps the attempt budgets, shared by every replica. Nil: Store, when it
	// implements storage.RateLimitStore; a Store that does not is refused.
	Attempts storage.RateLimitStore
	// Limits of failed second-factor attempts in Window: per user and per client IP.
	// Zero values: 5 per user and 30 per IP in 15 minutes.
	MaxUserFailures, MaxIPFailures int
	Window                         time.Duration
}

// WebAuthnOptions configure the WebAuthn relying party.
type WebAuthnOptions struct {
	// RPID is the relying party ID: the issuer's host name (or a registrable parent of it).
	// IP addresses are not valid RP IDs.
	RPID   string
	RPName string
	// Origins are the allowed origins (scheme://host[:port]) of the pages that run the
	// ceremonies: the issuer's origin.
	Origins []string
}

// User names the user a factor belongs to.
type User struct {
	// ID is the internal user ID (Identity.Subject).
	ID string
	// Name is the account name shown in authenticator apps and passkey pickers.
	Name string
	// DisplayName is the user's full name, for passkey pickers.
	DisplayName string
}

// Service enrols and verifies second factors.
type Service struct {
	store storage.MFAStore
	seal  *sealer
	// storeSeals: the store seals TOTP secrets (Options.StoreSeals).
	storeSeals bool
	issuer     string
	now        func() time.Time
	logger     *slog.Logger
	wa         *webAuthn            // nil when WebAuthn is not configured
	passkeys   storage.PasskeyStore // nil when the store keeps no passkeys
	limiter    *ratelimit.Limiter
	maxUser    int
	maxIP      int
	stateTTL   time.Duration
}

// New checks the options and returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("mfa: the storage backend does not support MFA")
	}
	sl, err := newSealer(o.SecretsKey)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IssuerName == "" {
		o.IssuerName = "Gatehouse"
	}
	if o.MaxUserFailures <= 0 {
		o.MaxUserFailures = 5
	}
	if o.MaxIPFailures <= 0 {
		o.MaxIPFailures = 30
	}
	if o.Window <= 0 {
		o.Window = 15 * time.Minute
	}
	if o.Attempts == nil {
		o.Attempts, _ = o.Store.(storage.RateLimitStore)
	}
	lim, err := ratelimit.New(o.Attempts, o.Now, o.Window)
	if err != nil {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	s := &Service{
		store: o.Store, seal: sl, storeSeals: o.StoreSeals, issuer: o.IssuerName, now: o.Now, logger: o.Logger,
		limiter: lim, maxUser: o.MaxUserFailures, maxIP: o.MaxIPFailures,
		stateTTL: 10 * time.Minute,
	}
	s.passkeys, _ = o.Store.(storage.PasskeyStore)
	if o.WebAuthn.RPID != "" {
		if s.wa, err = newWebAuthn(o.WebAuthn); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// WebAuthnEnabled reports whether security keys and passkeys can be used.
func (s *Service) WebAuthnEnabled() bool { return s.wa != nil }

// Status is a user's factors.
type Status struct {
	Factors []storage.MFAFactor
	// RecoveryCodes is how many unused recovery codes the user has.
	RecoveryCodes int
}

// Enrolled reports whether the user has a factor to verify with.
func (st Status) Enrolled() bool { return len(st.Factors) > 0 }

// Has reports whether the user has a factor of the type (storage.MFAType*).
func (st Status) Has(typ string) bool {
	return slices.ContainsFunc(st.Factors, func(f storage.MFAFactor) bool { return f.Type == typ })
}

// Status returns the user's factors and recovery code count.
func (s *Service) Status(ctx context.Context, userID string) (Status, error) {
	fs, err := s.store.ListMFAFactors(ctx, userID)
	if err != nil {
		return Status{}, fmt.Errorf("mfa: list factors: %w", err)
	}
	n, err := s.store.CountRecoveryCodes(ctx, userID)
	if err != nil {
		return Status{}, fmt.Errorf("mfa: count recovery codes: %w", err)
	}
	return Status{Factors: fs, RecoveryCodes: n}, nil
}

// enrol makes sure the user has an enrolment record (with a WebAuthn user handle).
func (s *Service) enrol(ctx context.Context, u User) (storage.MFAEnrolment, error) {
	handle := make([]byte, 32)
	if _, err := rand.Read(handle); err != nil {
		return storage.MFAEnrolment{}, fmt.Errorf("mfa: random: %w", err)
	}
	now := s.now().UTC()
	e, err := s.store.PutMFAEnrolment(ctx, storage.MFAEnrolment{UserID: u.ID, Username: u.Name, WebAuthnID: handle, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return e, fmt.Errorf("mfa: enrol: %w", err)
	}
	return e, nil
}

// RemoveFactor deletes one of the user's factors.
func (s *Service) RemoveFactor(ctx context.Context, userID, factorID string) error {
	if err := s.store.DeleteMFAFactor(ctx, userID, factorID); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return ErrNoFactor
		}
		return fmt.Errorf("mfa: remove factor: %w", err)
	}
	return nil
}

// Reset deletes every factor and recovery code of the user (an operator's reset). It
// returns storage.ErrNotFound (wrapped) when the user never enrolled.
func (s *Service) Reset(ctx context.Context, userID string) error {
	if err := s.store.DeleteMFAEnrolment(ctx, userID); err != nil {
		return fmt.Errorf("mfa: reset %s: %w", userID, err)
	}
	return nil
}

// Attempt is a second-factor attempt reserved by Reserve.
type Attempt struct {
	userID string
	res    ratelimit.Attempt
}

// Reserve takes one attempt from the user's and the client IP's budgets (shared by every
// replica) before a code or assertion is checked. ok is false when either budget is spent; an
// error means the budgets could not be read, and the attempt must be refused. A failed check
// keeps the reservation: it is the failure that counts.
func (s *Service) Reserve(ctx context.Context, userID, ip string) (a Attempt, ok bool, err error) {
	limits := []storage.RateLimit{{Key: userLimitKey(userID), Max: s.maxUser}}
	if ip != "" {
		limits = append(limits, storage.RateLimit{Key: "mfa:ip:" + ip, Max: s.maxIP})
	}
	res, ok, err := s.limiter.Reserve(ctx, limits...)
	if err != nil {
		return Attempt{}, false, fmt.Errorf("mfa: reserve attempt: %w", err)
	}
	return Attempt{userID: userID, res: res}, ok, nil
}

// Succeeded refunds a passed attempt and forgets the user's earlier failures.
func (s *Service) Succeeded(ctx context.Context, a Attempt) error {
	if err := s.limiter.Refund(ctx, a.res); err != nil {
		return fmt.Errorf("mfa: refund attempt: %w", err)
	}
	if err := s.limiter.Reset(ctx, userLimitKey(a.userID)); err != nil {
		return fmt.Errorf("mfa: reset attempts: %w", err)
	}
	return nil
}

// Unused refunds an attempt that checked nothing (the request was refused before the check).
func (s *Service) Unused(ctx context.Context, a Attempt) error {
	if err := s.limiter.Refund(ctx, a.res); err != nil {
		return fmt.Errorf("mfa: refund attempt: %w", err)
	}
	return nil
}

// userLimitKey is the key of a user's second-factor budget.
func userLimitKey(userID string) string { return "mfa:user:" + userID }

// newFactorID returns a random factor ID.
func newFactorID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("mfa: random: %w", err)
	}
	return strings.ToLower(b32.EncodeToString(b)), nil
}
