package ldap

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// DefaultMaxClockSkew is the default kerberos.max_clock_skew.
const DefaultMaxClockSkew = 5 * time.Minute

// maxNegotiateHeader bounds the Authorization header Negotiate decodes: an AD ticket with a
// large PAC is a few KiB, far below it.
const maxNegotiateHeader = 64 << 10

// Kerberos enables desktop single sign-on (SPNEGO): a domain-joined browser sends a service
// ticket for HTTP/<gatehouse host> and the user is signed in without the form. The ticket
// names the user (alice@CORP.EXAMPLE.TEST); the entry is then read from the directory like a
// password login's, with its groups.
type Kerberos struct {
	// Keytab is the file holding the service principal's keys (samba-tool domain
	// exportkeytab, ktpass). Read when the connector is opened.
	Keytab string `yaml:"keytab"`
	// ServicePrincipal, when set, is the one keytab principal tickets must be for
	// ("HTTP/sso.corp.example.test"); empty: any principal of the keytab.
	ServicePrincipal string `yaml:"service_principal"`
	// Realms lists the client realms whose users may sign in, matched exactly.
	Realms []string `yaml:"realms"`
	// UsernameAttr is the attribute that holds the principal's name without its realm
	// (default: sAMAccountName with preset active_directory, otherwise user_search.username[0]).
	UsernameAttr string `yaml:"username_attr"`
	// MaxClockSkew is the clock difference allowed with clients (default 5m).
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
}

// validate reports the problems of the kerberos block, keyed under "kerberos.".
func (k *Kerberos) validate(add func(string, ...any)) {
	if k.Keytab == "" {
		add("kerberos.keytab: required")
	}
	if len(k.Realms) == 0 {
		add("kerberos.realms: required (the realms whose users may sign in, e.g. [CORP.EXAMPLE.TEST])")
	}
	for i, r := range k.Realms {
		if r == "" || strings.ContainsAny(r, " @/\\\t\r\n") {
			add("kerberos.realms[%d]: %q is not a realm name", i, r)
		}
	}
	if sp := k.ServicePrincipal; sp != "" && (strings.Contains(sp, "@") || strings.ContainsAny(sp, " \t\r\n")) {
		add("kerberos.service_principal: %q must be a principal name without realm, e.g. HTTP/sso.example.com", sp)
	}
	if k.UsernameAttr != "" && !attrNameOK(k.UsernameAttr) {
		add("kerberos.username_attr: %q is not an attribute name", k.UsernameAttr)
	}
	if s := k.MaxClockSkew; s != 0 && (s < time.Second || s > time.Hour) { // 0: the default
		add("kerberos.max_clock_skew: %v outside [1s, 1h] (omit it for the default %v)", s, DefaultMaxClockSkew)
	}
}

// withDefaults fills the defaults of the kerberos block.
func (k Kerberos) withDefaults(ad bool, usernames []string) Kerberos {
	k.Realms = slices.Clone(k.Realms)
	if k.UsernameAttr == "" {
		if ad || len(usernames) == 0 {
			k.UsernameAttr = "sAMAccountName"
		} else {
			k.UsernameAttr = usernames[0]
		}
	}
	if k.MaxClockSkew == 0 {
		k.MaxClockSkew = DefaultMaxClockSkew
	}
	return k
}

// negotiator verifies SPNEGO tokens with the keytab.
type negotiator struct {
	cfg      Kerberos
	settings *service.Settings
	replay   connectors.ReplayCache // nil: gokrb5's per-process replay cache alone
}

// openNegotiator reads the keytab.
func openNegotiator(k Kerberos, replay connectors.ReplayCache) (*negotiator, error) {
	data, err := os.ReadFile(k.Keytab)
	if err != nil {
		return nil, fmt.Errorf("kerberos.keytab: %w", err)
	}
	kt := keytab.New()
	if err := kt.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("kerberos.keytab %s: %w", k.Keytab, err)
	}
	if len(kt.Entries) == 0 {
		return nil, fmt.Errorf("kerberos.keytab %s: no keys", k.Keytab)
	}
	opts := []func(*service.Settings){
		service.MaxClockSkew(k.MaxClockSkew),
		service.DecodePAC(false), // identity and groups come from the directory
		service.Logger(log.New(io.Discard, "", 0)),
	}
	if k.ServicePrincipal != "" {
		found := false
		for _, e := range kt.Entries {
			found = found || strings.Join(e.Principal.Components, "/") == k.ServicePrincipal
		}
		if !found {
			return nil, fmt.Errorf("kerberos.keytab %s: no key for kerberos.service_principal %q", k.Keytab, k.ServicePrincipal)
		}
		opts = append(opts, service.KeytabPrincipal(k.ServicePrincipal))
	}
	return &negotiator{cfg: k, settings: service.NewSettings(kt, opts...), replay: replay}, nil
}

// ticket is what a verified AP-REQ says about the client.
type ticket struct {
	user, realm string
	authTime    time.Time
	replayID    string
	expires     time.Time
}

// verify decodes and checks an Authorization header value. errNoToken: nothing to check.
func (n *negotiator) verify(authorization string) (ticket, error) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	if !strings.EqualFold(scheme, "Negotiate") || len(authorization) > maxNegotiateHeader {
		return ticket{}, connectors.ErrNoTicket
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil || len(raw) == 0 {
		return ticket{}, fmt.Errorf("%w: not base64", connectors.ErrBadCredentials)
	}
	if strings.HasPrefix(string(raw), "NTLMSSP\x00") {
		return ticket{}, connectors.ErrNoTicket // a browser outside the domain offers NTLM
	}
	var st spnego.SPNEGOToken
	if err := st.Unmarshal(raw); err != nil || !st.Init || len(st.NegTokenInit.MechTypes) == 0 {
		return ticket{}, fmt.Errorf("%w: not an SPNEGO NegTokenInit", connectors.ErrBadCredentials)
	}
	mech := st.NegTokenInit.MechTypes[0]
	if !mech.Equal(gssapi.OIDKRB5.OID()) && !mech.Equal(gssapi.OIDMSLegacyKRB5.OID()) {
		return ticket{}, connectors.ErrNoTicket // NTLM offered first: no ticket
	}
	var kt spnego.KRB5Token
	if err := kt.Unmarshal(st.NegTokenInit.MechTokenBytes); err != nil || !kt.IsAPReq() {
		return ticket{}, fmt.Errorf("%w: no Kerberos AP-REQ", connectors.ErrBadCredentials)
	}
	ok, creds, err := service.VerifyAPREQ(&kt.APReq, n.settings)
	if err != nil || !ok || creds == nil {
		return ticket{}, fmt.Errorf("%w: ticket refused: %v", connectors.ErrBadCredentials, err)
	}
	a, enc := kt.APReq.Authenticator, kt.APReq.Ticket.DecryptedEncPart
	ct := a.CTime.Add(time.Duration(a.Cusec) * time.Microsecond)
	return ticket{
		user:     a.CName.PrincipalNameString(),
		realm:    a.CRealm,
		authTime: enc.AuthTime,
		replayID: replayID(a.CRealm, a.CName.PrincipalNameString(), a.CTime, a.Cusec),
		expires:  ct.Add(2 * n.cfg.MaxClockSkew),
	}, nil
}

// KerberosConnector is an LDAP connector with a kerberos block: it also signs in browsers
// that send a Kerberos ticket (connectors.NegotiateConnector). Open returns it only then, so
// a connector without keytab never asks browsers for a ticket.
type KerberosConnector struct {
	*Connector
	krb *negotiator
}

// Interface guard.
var _ connectors.NegotiateConnector = (*KerberosConnector)(nil)

// replayID names an authenticator (client, ctime, cusec: RFC 4120 section 3.2.3) in the
// shared replay cache, hashed so no user name is stored.
func replayID(realm, name string, ctime time.Time, cusec int) string {
	sum := sha256.Sum256([]byte(realm + "\x00" + name + "\x00" + strconv.FormatInt(ctime.Unix(), 10) + "." + strconv.Itoa(cusec)))
	return "krb5:" + hex.EncodeToString(sum[:])
}

// Negotiate implements connectors.NegotiateConnector: it verifies the SPNEGO token of the
// Authorization header with the keytab (ticket times, authenticator, replay), accepts only
// the configured realms, and reads the user's entry (username_attr = the principal name) and
// groups from the directory. A disabled or expired account is refused.
func (c *KerberosConnector) Negotiate(ctx context.Context, s connectors.Scopes, authorization string) (connectors.Upstream, error) {
	t, err := c.krb.verify(authorization)
	if err != nil {
		if !errors.Is(err, connectors.ErrNoTicket) {
			c.logger.InfoContext(ctx, "kerberos: ticket refused", "err", err)
		}
		return connectors.Upstream{}, err
	}
	if !slices.Contains(c.krb.cfg.Realms, t.realm) || t.user == "" || strings.Contains(t.user, "/") {
		c.logger.InfoContext(ctx, "kerberos: principal not accepted", "principal", t.user+"@"+t.realm)
		return connectors.Upstream{}, fmt.Errorf("%w: principal of another realm or a service", connectors.ErrBadCredentials)
	}
	if c.krb.replay != nil {
		if err := c.krb.replay.Consume(ctx, t.replayID, t.expires); err != nil {
			c.logger.InfoContext(ctx, "kerberos: authenticator replayed or not recorded", "principal", t.user+"@"+t.realm, "err", err)
			return connectors.Upstream{}, fmt.Errorf("%w: %w", connectors.ErrBadCredentials, err)
		}
	}
	entry, err := c.findPrincipal(ctx, t.user)
	if errors.Is(err, errNoUser) {
		c.logger.InfoContext(ctx, "kerberos: no unique directory entry", "principal", t.user+"@"+t.realm)
		return connectors.Upstream{}, fmt.Errorf("%w: no directory entry", connectors.ErrBadCredentials)
	}
	if err != nil {
		return connectors.Upstream{}, c.upstreamErr(ctx, "kerberos user search", err)
	}
	if reason := c.disabled(entry); reason != "" {
		c.logger.InfoContext(ctx, "kerberos: account unusable", "dn", entry.DN, "reason", reason)
		return connectors.Upstream{}, &connectors.DeniedError{Reason: "this " + reason + " may not sign in"}
	}
	up, err := c.identity(ctx, entry)
	if err != nil {
		return connectors.Upstream{}, err
	}
	if up.Username == "" {
		up.Username = t.user
	}
	up.AuthTime = t.authTime
	return up, nil
}

// findPrincipal searches the one user entry whose username_attr equals name.
func (c *KerberosConnector) findPrincipal(ctx context.Context, name string) (*goldap.Entry, error) {
	var entry *goldap.Entry
	err := c.search.with(ctx, func(conn *goldap.Conn) error {
		filter := userFilter(c.cfg.UserSearch.Filter, []string{c.krb.cfg.UsernameAttr}, name)
		c.ops.Add(1)
		res, err := conn.Search(goldap.NewSearchRequest(c.cfg.UserSearch.BaseDN, goldap.ScopeWholeSubtree,
			goldap.NeverDerefAliases, 2, 0, false, filter, c.userAttrs(), nil))
		if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
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
	return entry, err
}
