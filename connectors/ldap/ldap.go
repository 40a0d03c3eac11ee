package ldap

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"

	"github.com/gatehouse-id/gatehouse/internal/tracing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Connector is an opened LDAP connector.
type Connector struct {
	info connectors.Info
	cfg  Config // with defaults
	ad   bool
	// extra are the attributes read for claims (user_search.attributes and those the
	// claims rules name), spelled as configured.
	extra  []string
	search *pool // bound as the service account
	binds  *pool // used only for user binds
	logger *slog.Logger
	now    func() time.Time
	// ops counts LDAP requests sent (searches, search pages, binds), for benchmarks and tests.
	ops atomic.Uint64
}

// Interface guards.
var (
	_ connectors.PasswordConnector     = (*Connector)(nil)
	_ connectors.RefreshConnector      = (*Connector)(nil)
	_ connectors.HealthChecker         = (*Connector)(nil)
	_ connectors.UsernameCanonicalizer = (*Connector)(nil)
)

// Info returns the connector's identity.
func (c *Connector) Info() connectors.Info { return c.info }

// Prompt is the label of the username field.
func (c *Connector) Prompt() string { return c.cfg.UsernamePrompt }

// CanonicalUsername is the account a typed username names, for the broker's per-account
// attempt budget: on Active Directory without its domain prefix (CORP\alice is alice), and
// lowercased, as directory matching of user names ignores case.
func (c *Connector) CanonicalUsername(username string) string {
	username = strings.TrimSpace(username)
	if i := strings.LastIndexByte(username, '\\'); c.ad && i >= 0 && i < len(username)-1 {
		username = username[i+1:]
	}
	return strings.ToLower(username)
}

// Close closes the pooled connections.
func (c *Connector) Close() error {
	c.search.close()
	c.binds.close()
	return nil
}

// maxUsernameLen bounds what a user may type; longer input cannot be a username.
const maxUsernameLen = 256

// errNoUser reports that no entry (or more than one) matched the username.
var errNoUser = errors.New("no unique matching entry")

// Login searches the user, binds as the user with password and reads the user's groups.
func (c *Connector) Login(ctx context.Context, s connectors.Scopes, username, password string) (connectors.Upstream, error) {
	if password == "" || username == "" || len(username) > maxUsernameLen || !utf8.ValidString(username) ||
		strings.ContainsRune(username, 0) {
		// An empty password would be an unauthenticated bind, which servers report as success.
		return connectors.Upstream{}, connectors.ErrBadCredentials
	}
	typed := username
	if c.ad {
		// CORP\alice: the domain part adds nothing to a search of this domain.
		if i := strings.LastIndexByte(username, '\\'); i >= 0 && i < len(username)-1 {
			username = username[i+1:]
		}
	}
	var entry *goldap.Entry
	err := c.search.with(ctx, func(conn *goldap.Conn) error {
		var err error
		entry, err = c.findUser(ctx, conn, username)
		return err
	})
	if errors.Is(err, errNoUser) {
		// Cost a bind like a real user would, then fail the same way.
		c.dummyBind(ctx, password)
		c.logger.InfoContext(ctx, "ldap login: no unique user", "username", typed)
		return connectors.Upstream{}, connectors.ErrBadCredentials
	}
	if err != nil {
		return connectors.Upstream{}, c.upstreamErr(ctx, "user search", err)
	}
	if err := c.bindUser(ctx, entry.DN, password); err != nil {
		return connectors.Upstream{}, err
	}
	up, err := c.identity(ctx, entry)
	if err != nil {
		return connectors.Upstream{}, err
	}
	if up.Username == "" {
		up.Username = typed
	}
	up.AuthTime = c.now()
	up.AMR = []string{"pwd"}
	return up, nil
}

// Refresh reads the user again by DN: a user that is gone, no longer matches the user
// filter, is disabled or locked, or whose ID changed, is revoked. Groups are read afresh.
func (c *Connector) Refresh(ctx context.Context, s connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	dn := string(prev.Stash)
	if dn == "" {
		return connectors.Upstream{}, fmt.Errorf("%w: no DN stashed", connectors.ErrUpstreamRevoked)
	}
	var entry *goldap.Entry
	err := c.search.with(ctx, func(conn *goldap.Conn) error {
		c.ops.Add(1)
		res, err := conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			1, 0, false, c.userFilterOnly(), c.userAttrs(), nil))
		if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
			return errNoUser
		}
		if err != nil {
			return err
		}
		if len(res.Entries) != 1 {
			return errNoUser
		}
		entry = res.Entries[0]
		return nil
	})
	if errors.Is(err, errNoUser) {
		c.logger.InfoContext(ctx, "ldap refresh: user gone or no longer matches the filter", "dn", dn)
		return connectors.Upstream{}, fmt.Errorf("%w: user not found", connectors.ErrUpstreamRevoked)
	}
	if err != nil {
		return connectors.Upstream{}, c.upstreamErr(ctx, "refresh", err)
	}
	if reason := c.disabled(entry); reason != "" {
		c.logger.InfoContext(ctx, "ldap refresh: account unusable", "dn", dn, "reason", reason)
		return connectors.Upstream{}, fmt.Errorf("%w: %s", connectors.ErrUpstreamRevoked, reason)
	}
	up, err := c.identity(ctx, entry)
	if err != nil {
		return connectors.Upstream{}, err
	}
	if prev.Subject != "" && up.Subject != prev.Subject {
		c.logger.InfoContext(ctx, "ldap refresh: DN now names another entry", "dn", dn)
		return connectors.Upstream{}, fmt.Errorf("%w: user replaced", connectors.ErrUpstreamRevoked)
	}
	if up.Username == "" {
		up.Username = prev.Username
	}
	up.AuthTime = prev.AuthTime
	up.AMR = prev.AMR
	up.ACR = prev.ACR
	return up, nil
}

// Check binds the service account and reads the user base entry.
func (c *Connector) Check(ctx context.Context) error {
	err := c.search.with(ctx, func(conn *goldap.Conn) error {
		c.ops.Add(1)
		_, err := conn.Search(goldap.NewSearchRequest(c.cfg.UserSearch.BaseDN, goldap.ScopeBaseObject,
			goldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
		return err
	})
	if err != nil {
		return c.upstreamErr(ctx, "health check", err)
	}
	return nil
}

// upstreamErr wraps a directory failure for the broker ("provider unavailable").
func (c *Connector) upstreamErr(ctx context.Context, op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("ldap %s: %w", op, err)
	}
	var de *dialError
	temp := errors.As(err, &de) || isConnError(err)
	c.logger.WarnContext(ctx, "ldap directory error", "op", op, "err", err)
	return &connectors.UpstreamError{Temporary: temp, Err: fmt.Errorf("ldap %s: %w", op, err)}
}

// userFilterOnly is the configured user filter, or (objectClass=*).
func (c *Connector) userFilterOnly() string {
	if c.cfg.UserSearch.Filter == "" {
		return "(objectClass=*)"
	}
	return wrapFilter(c.cfg.UserSearch.Filter)
}

// userAttrs lists the attributes read from a user entry.
func (c *Connector) userAttrs() []string {
	us := c.cfg.UserSearch
	attrs := []string{us.IDAttr, us.EmailAttr, us.NameAttr, us.PreferredUsernameAttr}
	attrs = append(attrs, us.Username...)
	attrs = append(attrs, c.extra...)
	for _, m := range c.cfg.GroupSearch.UserMatchers {
		if !strings.EqualFold(m.UserAttr, "DN") {
			attrs = append(attrs, m.UserAttr)
		}
	}
	if c.ad {
		attrs = append(attrs, "userAccountControl", "accountExpires")
	} else {
		attrs = append(attrs, "pwdAccountLockedTime")
	}
	out := attrs[:0]
	for _, a := range attrs {
		if !slices.ContainsFunc(out, func(b string) bool { return strings.EqualFold(a, b) }) {
			out = append(out, a)
		}
	}
	return out
}

// findUser returns the one entry matching username, or errNoUser.
func (c *Connector) findUser(ctx context.Context, conn *goldap.Conn, username string) (*goldap.Entry, error) {
	defer tracing.Span(ctx, "ldap.search", attribute.String("ldap.op", "user search"))()
	filter := userFilter(c.cfg.UserSearch.Filter, c.cfg.UserSearch.Username, username)
	c.ops.Add(1)
	res, err := conn.Search(goldap.NewSearchRequest(c.cfg.UserSearch.BaseDN, goldap.ScopeWholeSubtree,
		goldap.NeverDerefAliases, 2, 0, false, filter, c.userAttrs(), nil))
	if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
		c.logger.WarnContext(ctx, "ldap login: username matches several entries", "username", username)
		return nil, errNoUser
	}
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return nil, fmt.Errorf("user_search.base_dn %q does not exist: %w", c.cfg.UserSearch.BaseDN, err)
	}
	if err != nil {
		return nil, err
	}
	if len(res.Entries) != 1 {
		if len(res.Entries) > 1 {
			c.logger.WarnContext(ctx, "ldap login: username matches several entries", "username", username)
		}
		return nil, errNoUser
	}
	return res.Entries[0], nil
}

// dummyBind spends a bind round trip with a DN that does not exist, so an unknown username
// takes about as long as a wrong password. Its outcome is ignored.
func (c *Connector) dummyBind(ctx context.Context, password string) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	dn := "cn=" + goldap.EscapeDN("gatehouse-no-such-user-"+hex.EncodeToString(b[:])) + "," + c.cfg.UserSearch.BaseDN
	_ = c.binds.with(ctx, func(conn *goldap.Conn) error { //nolint:errcheck // a timing equaliser: the dummy bind is meant to fail
		c.ops.Add(1)
		_, err := conn.SimpleBind(goldap.NewSimpleBindRequest(dn, password, nil))
		return err
	})
}

// bindUser checks the password by binding as dn and maps the outcome.
func (c *Connector) bindUser(ctx context.Context, dn, password string) error {
	defer tracing.Span(ctx, "ldap.bind", attribute.String("ldap.op", "user bind"))()
	var res *goldap.SimpleBindResult
	err := c.binds.with(ctx, func(conn *goldap.Conn) error {
		var ctrls []goldap.Control
		if !c.ad {
			ctrls = []goldap.Control{goldap.NewControlBeheraPasswordPolicy()}
		}
		var err error
		c.ops.Add(1)
		res, err = conn.SimpleBind(goldap.NewSimpleBindRequest(dn, password, ctrls))
		return err
	})
	var pp *goldap.ControlBeheraPasswordPolicy
	if res != nil {
		if ctrl, ok := goldap.FindControl(res.Controls, goldap.ControlTypeBeheraPasswordPolicy).(*goldap.ControlBeheraPasswordPolicy); ok {
			pp = ctrl
		}
	}
	if err == nil {
		if pp != nil && pp.Error >= 0 {
			// The password was right, but the policy says it may not be used as is.
			c.logger.InfoContext(ctx, "ldap login: password policy refuses the account", "dn", dn, "policy", pp.ErrorString)
			if reason := ppolicyDenied(pp.Error); reason != "" {
				return &connectors.DeniedError{Reason: reason}
			}
		}
		return nil
	}
	var le *goldap.Error
	if !errors.As(err, &le) || isConnError(err) {
		return c.upstreamErr(ctx, "user bind", err)
	}
	switch le.ResultCode {
	case goldap.LDAPResultInvalidCredentials:
		mapped := bindFailure(le.Err.Error())
		c.logger.InfoContext(ctx, "ldap login: bind refused", "dn", dn, "detail", describeBindFailure(le.Err.Error(), pp))
		return mapped
	case goldap.LDAPResultInsufficientAccessRights, goldap.LDAPResultUnwillingToPerform,
		goldap.LDAPResultConstraintViolation, goldap.LDAPResultInappropriateAuthentication:
		c.logger.InfoContext(ctx, "ldap login: bind refused", "dn", dn, "code", le.ResultCode, "detail", le.Err.Error())
		return connectors.ErrBadCredentials
	default:
		return c.upstreamErr(ctx, "user bind", err)
	}
}

// disabled says why an entry read on refresh may not be used any more ("" when usable).
func (c *Connector) disabled(e *goldap.Entry) string {
	if c.ad {
		if v := e.GetEqualFoldAttributeValue("userAccountControl"); v != "" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n&uacAccountDisable != 0 {
				return "account disabled"
			}
		}
		if v := e.GetEqualFoldAttributeValue("accountExpires"); v != "" {
			if t, ok := adTime(v); ok && !t.After(c.now()) {
				return "account expired"
			}
		}
		return ""
	}
	if e.GetEqualFoldAttributeValue("pwdAccountLockedTime") != "" {
		return "account locked"
	}
	return ""
}

// identity builds the upstream identity from a user entry and reads the user's groups.
func (c *Connector) identity(ctx context.Context, e *goldap.Entry) (connectors.Upstream, error) {
	us := c.cfg.UserSearch
	raw := e.GetEqualFoldRawAttributeValue(us.IDAttr)
	if len(raw) == 0 {
		return connectors.Upstream{}, c.upstreamErr(ctx, "read user", fmt.Errorf("entry %q has no %s (user_search.id_attr): is the service account allowed to read it?", e.DN, us.IDAttr))
	}
	up := connectors.Upstream{
		Subject:       encodeID(us.IDAttr, raw),
		Username:      e.GetEqualFoldAttributeValue(us.PreferredUsernameAttr),
		Email:         e.GetEqualFoldAttributeValue(us.EmailAttr),
		EmailVerified: c.cfg.TrustEmail && e.GetEqualFoldAttributeValue(us.EmailAttr) != "",
		Name:          e.GetEqualFoldAttributeValue(us.NameAttr),
		Attrs:         map[string][]string{"dn": {e.DN}},
		Stash:         []byte(e.DN),
	}
	for _, a := range e.Attributes {
		if strings.EqualFold(a.Name, us.IDAttr) {
			up.Attrs[a.Name] = []string{up.Subject}
			continue
		}
		if strings.EqualFold(a.Name, "objectSid") || !allValid(a.Values) {
			continue
		}
		up.Attrs[a.Name] = a.Values
	}
	c.aliasExtra(up.Attrs)
	if c.cfg.GroupSearch.BaseDN != "" {
		err := c.search.with(ctx, func(conn *goldap.Conn) error {
			var err error
			up.Groups, err = c.groups(ctx, conn, e)
			return err
		})
		if err != nil {
			return connectors.Upstream{}, c.upstreamErr(ctx, "group search", err)
		}
	}
	return up, nil
}

func allValid(vs []string) bool {
	for _, v := range vs {
		if !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// aliasExtra also reports each attribute read for claims under the name the configuration
// spells it with when the directory returned another spelling (attribute names are
// case-insensitive in LDAP; claims rules read attrs by exact key).
func (c *Connector) aliasExtra(attrs map[string][]string) {
	for _, want := range c.extra {
		if _, ok := attrs[want]; ok {
			continue
		}
		for got, vs := range attrs {
			if strings.EqualFold(got, want) {
				attrs[want] = vs
				break
			}
		}
	}
}

// claimAttrs merges user_search.attributes with the attributes the claims rules read,
// skipping (with a warning) rule names that cannot be requested.
func claimAttrs(configured, fromRules []string, logger *slog.Logger) []string {
	out := slices.Clone(configured)
	for _, a := range fromRules {
		if err := requestableAttr(a); err != nil {
			logger.Warn("ldap: a claims rule reads an attribute that is not requested", "attribute", a, "reason", err)
			continue
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
