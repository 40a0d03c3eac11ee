// Package local is Gatehouse's built-in password connector: users with bcrypt password
// hashes kept by Gatehouse itself (in its storage, or provisioned from the configuration).
//
// The connector does not import storage (connectors never do): cmd/gatehouse hands it a
// UserSource, typically a thin adapter over storage.LocalUserStore. It implements
// connectors.PasswordConnector and connectors.RefreshConnector.
//
// Login is built so that its timing does not reveal whether a username exists: an unknown
// user is checked against a dummy bcrypt hash of the configured cost (config key cost,
// default DefaultCost), computed once at Open; a wrong password for a user whose stored hash
// is cheaper than that also spends a comparison at the configured cost; and a successful login
// stores the password again at the configured cost when the stored hash has another cost
// (when the UserSource implements PasswordRehasher), so stored hashes converge on it.
package local

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// DefaultCost is the bcrypt cost used when Config.Cost is zero; use it with HashPassword.
const DefaultCost = bcrypt.DefaultCost

// DefaultPrompt is the username field label when Config.Prompt is empty and login_with is
// [username]; see PromptFor.
const DefaultPrompt = "Username"

// What a user may type in the username field (Config.LoginWith).
const (
	LoginWithUsername = "username"
	LoginWithEmail    = "email"
)

// ErrUserNotFound is returned by a UserSource for a username or email it does not know.
var ErrUserNotFound = errors.New("local: user not found")

// ErrAmbiguousEmail is returned by UserSource.LookupUserByEmail when more than one user has
// the email: nobody signs in with it (each still can with their username).
var ErrAmbiguousEmail = errors.New("local: more than one user has this email")

// User is a user of the local connector, as a UserSource returns it.
type User struct {
	// Username is the login name and the stable upstream subject.
	Username      string
	Email         string
	Name          string
	PasswordHash  string // bcrypt
	EmailVerified bool
	Groups        []string
}

// PasswordRehasher is optionally implemented by a UserSource that can store a new hash: the
// connector calls it after a successful login whose stored hash does not have the configured
// cost. It must replace the hash only if it is still oldHash (a password changed meanwhile
// wins); it may return errors.ErrUnsupported when the store cannot.
type PasswordRehasher interface {
	ReplacePasswordHash(ctx context.Context, username, oldHash, newHash string) error
}

// UserSource looks users up by exact username, or by email compared case-insensitively. It
// returns ErrUserNotFound (possibly wrapped) for an unknown user and ErrAmbiguousEmail for an
// email several users have; any other error is treated as the user store being unavailable.
type UserSource interface {
	LookupUser(ctx context.Context, username string) (User, error)
	LookupUserByEmail(ctx context.Context, email string) (User, error)
}

// Config configures the local connector. It implements connectors.Config.
type Config struct {
	// Users is where users come from. It is not read from YAML: cmd/gatehouse sets it before
	// Open. Validate does not require it (check-config runs before wiring); Open does.
	Users UserSource `yaml:"-"`
	// Prompt labels the username field; empty means what LoginWith takes ("Username or
	// email", "Username", "Email"): PromptFor.
	Prompt string `yaml:"prompt"`
	// LoginWith is what a user may type in the username field: "username", "email" (the
	// user's email address, compared case-insensitively; an address several users share
	// signs nobody in), or both (the default; the username is tried first).
	LoginWith []string `yaml:"login_with"`
	// Cost is the bcrypt cost (4 to 31; zero means DefaultCost): of the dummy hash checked
	// for unknown users, of the extra comparison after a wrong password against a cheaper
	// stored hash, and of the hash stored again at a successful login when the stored one
	// has another cost. check-config warns about configured users' hashes below it.
	Cost int `yaml:"cost"`
}

var _ connectors.Config = (*Config)(nil)

// EffectiveCost is the bcrypt cost the connector uses: Cost, or DefaultCost when zero.
func (c *Config) EffectiveCost() int {
	if c.Cost == 0 {
		return DefaultCost
	}
	return c.Cost
}

// Validate reports problems with the configuration. It does no I/O.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Prompt) > 64 {
		errs = append(errs, fmt.Errorf("prompt: longer than 64 bytes"))
	}
	if strings.ContainsAny(c.Prompt, "\r\n") {
		errs = append(errs, fmt.Errorf("prompt: must be a single line"))
	}
	seen := map[string]bool{}
	for i, w := range c.LoginWith {
		switch {
		case w != LoginWithUsername && w != LoginWithEmail:
			errs = append(errs, fmt.Errorf("login_with[%d]: %q is neither username nor email", i, w))
		case seen[w]:
			errs = append(errs, fmt.Errorf("login_with[%d]: %q is listed twice", i, w))
		}
		seen[w] = true
	}
	if c.Cost != 0 && (c.Cost < bcrypt.MinCost || c.Cost > bcrypt.MaxCost) {
		errs = append(errs, fmt.Errorf("cost: %d outside [%d, %d]", c.Cost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	return errors.Join(errs...)
}

// loginWith reports what the username field takes: LoginWith, or both when it is empty.
func (c *Config) loginWith() (username, email bool) {
	if len(c.LoginWith) == 0 {
		return true, true
	}
	return slices.Contains(c.LoginWith, LoginWithUsername), slices.Contains(c.LoginWith, LoginWithEmail)
}

// PromptFor is the username field's label when the configuration sets none: it says what
// the field takes.
func PromptFor(username, email bool) string {
	switch {
	case username && email:
		return "Username or email"
	case email:
		return "Email"
	}
	return DefaultPrompt
}

// Open builds the connector. It starts computing the dummy bcrypt hash (tens of milliseconds
// at the default cost) in the background, so startup does not wait for it, and does no
// network I/O.
func (c *Config) Open(ctx context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("local connector %q: %w", info.ID, err)
	}
	if c.Users == nil {
		return nil, fmt.Errorf("local connector %q: no user source", info.ID)
	}
	cost := c.EffectiveCost()
	dummyPass, err := GeneratePassword()
	if err != nil {
		return nil, fmt.Errorf("local connector %q: %w", info.ID, err)
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("local connector %q: bcrypt cost %d is out of range", info.ID, cost)
	}
	dummy := sync.OnceValue(func() []byte {
		h, err := bcrypt.GenerateFromPassword([]byte(dummyPass), cost)
		if err != nil {
			// Only an out-of-range cost fails, and that was checked above.
			panic("local: dummy bcrypt hash: " + err.Error())
		}
		return h
	})
	go dummy()
	byUsername, byEmail := c.loginWith()
	prompt := c.Prompt
	if prompt == "" {
		prompt = PromptFor(byUsername, byEmail)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	return &Connector{
		info:   info,
		users:  c.Users,
		prompt: prompt,
		byName: byUsername, byMail: byEmail,
		cost:   cost,
		dummy:  dummy,
		logger: logger.With("connector", info.ID),
		now:    now,
	}, nil
}

// Connector is an opened local connector.
type Connector struct {
	info   connectors.Info
	users  UserSource
	prompt string
	// byName and byMail say what the username field takes (login_with).
	byName, byMail bool
	cost           int           // configured bcrypt cost
	dummy          func() []byte // bcrypt hash of a random password nobody knows (computed once)
	logger         *slog.Logger
	now            func() time.Time
}

// Interface guards.
var (
	_ connectors.PasswordConnector = (*Connector)(nil)
	_ connectors.RefreshConnector  = (*Connector)(nil)
	_ connectors.PasswordChanger   = (*Connector)(nil)
)

// Info returns the connector's identity.
func (c *Connector) Info() connectors.Info { return c.info }

// Close releases nothing; it exists to satisfy connectors.Connector.
func (c *Connector) Close() error { return nil }

// Prompt is the label of the username field.
func (c *Connector) Prompt() string { return c.prompt }

// Login checks username and password. What was typed is trimmed of surrounding spaces and
// matched, as login_with allows, exactly against usernames, then (when it has an @)
// case-insensitively against emails; the upstream subject is always the username. An empty username or password fails at once; an unknown user, a wrong
// password and a broken stored hash all return connectors.ErrBadCredentials after one bcrypt
// comparison. A failing user source returns a *connectors.UpstreamError.
func (c *Connector) Login(ctx context.Context, s connectors.Scopes, username, password string) (connectors.Upstream, error) {
	username = strings.TrimSpace(username)
	if username == "" || password == "" {
		return connectors.Upstream{}, connectors.ErrBadCredentials
	}
	u, err := c.lookup(ctx, username)
	switch {
	case errors.Is(err, ErrUserNotFound):
		c.burn(password)
		return connectors.Upstream{}, connectors.ErrBadCredentials
	case err != nil:
		c.burn(password)
		return connectors.Upstream{}, &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("local: look up user: %w", err)}
	case Disabled(u.PasswordHash):
		c.burn(password) // as slow as any refusal
		return connectors.Upstream{}, connectors.ErrBadCredentials
	}
	switch err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)); {
	case err == nil:
		c.rehash(ctx, u, password)
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		if stored, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil || stored < c.cost {
			c.burn(password) // a cheap stored hash must not answer faster than an unknown user
		}
		return connectors.Upstream{}, connectors.ErrBadCredentials
	default:
		// The stored hash is unusable; nobody can log in as this user. Spend the same time
		// as a real comparison so the failure is not observable from outside.
		c.logger.ErrorContext(ctx, "local user has an invalid password hash", "username", u.Username, "err", err)
		c.burn(password)
		return connectors.Upstream{}, connectors.ErrBadCredentials
	}
	up := upstream(u)
	up.AuthTime = c.now()
	up.AMR = []string{"pwd"}
	return up, nil
}

// lookup finds the user a login names: by username, then by email, as login_with allows.
func (c *Connector) lookup(ctx context.Context, name string) (User, error) {
	if c.byName {
		u, err := c.users.LookupUser(ctx, name)
		if !errors.Is(err, ErrUserNotFound) || !c.byMail {
			return u, err
		}
	}
	if !strings.Contains(name, "@") {
		return User{}, ErrUserNotFound
	}
	u, err := c.users.LookupUserByEmail(ctx, name)
	if errors.Is(err, ErrAmbiguousEmail) {
		c.logger.WarnContext(ctx, "sign-in by an email several local users have: refused (they can sign in with their usernames)")
		return User{}, ErrUserNotFound
	}
	return u, err
}

// Refresh re-reads the user named by prev.Subject, so that changes to email, name and groups
// reach refreshed tokens. A user that no longer exists yields connectors.ErrUpstreamRevoked.
func (c *Connector) Refresh(ctx context.Context, s connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	if prev.Subject == "" {
		return connectors.Upstream{}, fmt.Errorf("local: refresh without subject: %w", connectors.ErrUpstreamRevoked)
	}
	u, err := c.users.LookupUser(ctx, prev.Subject)
	switch {
	case errors.Is(err, ErrUserNotFound):
		return connectors.Upstream{}, fmt.Errorf("local: user %q deleted: %w", prev.Subject, connectors.ErrUpstreamRevoked)
	case err != nil:
		return connectors.Upstream{}, &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("local: look up user: %w", err)}
	}
	if u.PasswordHash == "" || Disabled(u.PasswordHash) {
		return connectors.Upstream{}, fmt.Errorf("local: user %q has no password or is disabled: %w", prev.Subject, connectors.ErrUpstreamRevoked)
	}
	up := upstream(u)
	up.AuthTime = prev.AuthTime
	up.AMR = slices.Clone(prev.AMR)
	up.ACR = prev.ACR
	return up, nil
}

// rehash stores the password again at the configured cost when the stored hash has another
// cost and the user source can store it. Failures are logged, never the login's.
func (c *Connector) rehash(ctx context.Context, u User, password string) {
	if stored, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil || stored == c.cost {
		return
	}
	r, ok := c.users.(PasswordRehasher)
	if !ok {
		return
	}
	h, err := HashPassword(password, c.cost)
	if err != nil {
		c.logger.WarnContext(ctx, "rehash password", "username", u.Username, "err", err)
		return
	}
	if err := r.ReplacePasswordHash(ctx, u.Username, u.PasswordHash, h); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		c.logger.WarnContext(ctx, "could not store the password rehashed at the configured cost", "username", u.Username, "cost", c.cost, "err", err)
	}
}

// The password policy of ChangePassword (the admin API sets passwords within the same
// bounds): bcrypt reads at most 72 bytes, so a longer password would be cut silently.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

// Reasons of the password policy's refusals: message IDs of the page catalogs.
const (
	PolicyTooShort = "password.too_short"
	PolicyTooLong  = "password.too_long"
	PolicySame     = "password.same"
)

// CheckPasswordPolicy returns a *connectors.PasswordPolicyError when next may not replace
// current: shorter than MinPasswordLen or longer than MaxPasswordLen bytes, or unchanged.
func CheckPasswordPolicy(current, next string) error {
	switch {
	case len(next) < MinPasswordLen:
		return &connectors.PasswordPolicyError{Reason: PolicyTooShort}
	case len(next) > MaxPasswordLen:
		return &connectors.PasswordPolicyError{Reason: PolicyTooLong}
	case next == current:
		return &connectors.PasswordPolicyError{Reason: PolicySame}
	}
	return nil
}

// ChangePassword implements connectors.PasswordChanger: the policy first (no comparison is
// spent on a new password that would be refused), then current against the user's stored
// hash as Login compares it (an unknown or disabled user and a wrong password all spend one
// comparison at the configured cost and return connectors.ErrBadCredentials), then next
// hashed at the configured cost and stored only if the stored hash is still the one checked
// (a concurrent change wins: *connectors.UpstreamError). A user source that cannot store
// hashes (no PasswordRehasher) returns errors.ErrUnsupported.
func (c *Connector) ChangePassword(ctx context.Context, subject, current, next string) error {
	if err := CheckPasswordPolicy(current, next); err != nil {
		return err
	}
	store, ok := c.users.(PasswordRehasher)
	if !ok {
		return fmt.Errorf("local: change password: the user source cannot store passwords: %w", errors.ErrUnsupported)
	}
	u, err := c.users.LookupUser(ctx, subject)
	switch {
	case subject == "" || current == "" || errors.Is(err, ErrUserNotFound):
		c.burn(current)
		return connectors.ErrBadCredentials
	case err != nil:
		return &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("local: look up user: %w", err)}
	case Disabled(u.PasswordHash):
		c.burn(current)
		return connectors.ErrBadCredentials
	}
	switch err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)); {
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		if stored, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil || stored < c.cost {
			c.burn(current)
		}
		return connectors.ErrBadCredentials
	case err != nil:
		c.logger.ErrorContext(ctx, "local user has an invalid password hash", "username", u.Username, "err", err)
		c.burn(current)
		return connectors.ErrBadCredentials
	}
	h, err := HashPassword(next, c.cost)
	if err != nil {
		return err
	}
	if err := store.ReplacePasswordHash(ctx, u.Username, u.PasswordHash, h); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return fmt.Errorf("local: change password: %w", err)
		}
		return &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("local: store new password: %w", err)}
	}
	return nil
}

// burn spends one bcrypt comparison against the dummy hash.
func (c *Connector) burn(password string) {
	_ = bcrypt.CompareHashAndPassword(c.dummy(), []byte(password)) //nolint:errcheck // a timing equaliser: the comparison is meant to fail
}

func upstream(u User) connectors.Upstream {
	return connectors.Upstream{
		Subject:       u.Username,
		Username:      u.Username,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Name:          u.Name,
		Groups:        slices.Clone(u.Groups),
	}
}

// DisabledPrefix marks the stored password hash of a disabled user (the admin API's
// DisableUser): the prefix makes the hash unusable, so nobody logs in as the user and a
// refresh of their tokens is refused, until a new password is set.
const DisabledPrefix = "!disabled:"

// Disabled reports whether a stored password hash is that of a disabled user.
func Disabled(hash string) bool { return strings.HasPrefix(hash, DisabledPrefix) }

// HashPassword returns the bcrypt hash of password at the given cost (0 means DefaultCost).
// It refuses an empty password and passwords longer than bcrypt's 72-byte limit.
func HashPassword(password string, cost int) (string, error) {
	if password == "" {
		return "", errors.New("local: empty password")
	}
	if cost == 0 {
		cost = DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("local: hash password: %w", err)
	}
	return string(h), nil
}

// GeneratePassword returns a random, URL-safe, 20-character password (120 bits from
// crypto/rand), for example for the first-start admin user.
func GeneratePassword() (string, error) {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("local: generate password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// PasskeyLogin returns the identity of the user a verified passkey signs in as (the broker
// checked the passkey; the connector checks the account): the user named by the exact
// username, not disabled. A user without a password may sign in this way. An unknown or
// disabled user is connectors.ErrBadCredentials; a failing user source a
// *connectors.UpstreamError.
func (c *Connector) PasskeyLogin(ctx context.Context, s connectors.Scopes, username string) (connectors.Upstream, error) {
	if username == "" {
		return connectors.Upstream{}, connectors.ErrBadCredentials
	}
	u, err := c.users.LookupUser(ctx, username)
	switch {
	case errors.Is(err, ErrUserNotFound):
		return connectors.Upstream{}, connectors.ErrBadCredentials
	case err != nil:
		return connectors.Upstream{}, &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("local: look up user: %w", err)}
	case Disabled(u.PasswordHash):
		return connectors.Upstream{}, connectors.ErrBadCredentials
	}
	up := upstream(u)
	up.AuthTime = c.now()
	return up, nil
}

// HasPassword reports whether the user can sign in with a password (has a usable hash and
// is not disabled): the account page keeps a passkey-only user's last passkey.
func (c *Connector) HasPassword(ctx context.Context, username string) (bool, error) {
	u, err := c.users.LookupUser(ctx, username)
	if errors.Is(err, ErrUserNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("local: look up user: %w", err)
	}
	return u.PasswordHash != "" && !Disabled(u.PasswordHash), nil
}
