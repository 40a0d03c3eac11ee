// Package ldap is Gatehouse's LDAP and Active Directory password connector.
//
// A login searches the directory with a service account (bind_dn) for the entry whose
// username attributes (uid, mail, sAMAccountName, userPrincipalName, ...) equal what the user
// typed, binds as that entry's DN with the typed password, then reads the user's groups:
// direct memberships by a search of the group base, nested ones level by level (or, on
// Active Directory, with the in-chain matching rule 1.2.840.113556.1.4.1941 in one search).
//
// Security properties:
//   - every value put in a filter is escaped (RFC 4515) and every value put in a DN is
//     escaped (RFC 4514), so a username such as "*)(uid=*" matches nothing;
//   - an empty password is refused before any bind (it would be an unauthenticated bind,
//     which servers report as a success);
//   - an unknown username costs a bind round trip like a wrong password, and both return
//     connectors.ErrBadCredentials; Active Directory's bind diagnostics are mapped so that
//     only states AD reports after checking the password (disabled, expired, must change
//     password, logon hours) become a *connectors.DeniedError with a reason;
//   - certificates are verified unless insecure_skip_verify is set, and plain ldap:// needs
//     insecure_no_tls; the service password is never logged nor put in an error.
//
// Connections: searches run on a pool of connections bound as the service account, user
// binds on a second pool whose connections do nothing else, so a login costs one search,
// one bind and the group searches. Hosts are tried in order; a connection that broke while
// idle is replaced and the operation retried once. A directory that cannot be reached gives a
// *connectors.UpstreamError.
//
// Email: the email_attr value is reported as unverified unless trust_email: true, because
// directories commonly let users write their own mail attribute ("by self write"); only set
// it when administrators alone can change that attribute.
//
// Kerberos desktop single sign-on (SPNEGO, RFC 4559): with a kerberos block the connector
// also implements connectors.NegotiateConnector, and the broker answers its form page with
// 401 "WWW-Authenticate: Negotiate" (the form as the body). A domain-joined browser retries
// with a service ticket for HTTP/<gatehouse host>, which is checked with the keytab (pure Go,
// gokrb5: the ticket's key, validity window within max_clock_skew, the authenticator, replay,
// also across replicas through the shared replay cache); the client realm must be one of
// realms, exactly; the entry whose username_attr equals the principal name (alice for
// alice@CORP.EXAMPLE.TEST) is read with its groups as for a password login, and an account
// disabled or expired in the directory is denied even with a valid ticket. No ticket (or an
// NTLM token) shows the form; a refused ticket shows the form with a message and no new
// challenge. prompt=login and max_age never take a ticket. Keys:
//
//	kerberos:
//	  keytab: /etc/gatehouse/http.keytab   # required; samba-tool domain exportkeytab / ktpass
//	  realms: [CORP.EXAMPLE.TEST]          # required; client realms allowed, exact match
//	  service_principal: HTTP/sso.corp.example.test  # optional: the one keytab principal accepted
//	  username_attr: sAMAccountName        # default: sAMAccountName with preset active_directory, else user_search.username[0]
//	  max_clock_skew: 5m                   # default 5m, at most 1h
//
// The keytab is read when the connector is opened; the service account should be AES-only
// (msDS-SupportedEncryptionTypes: 24).
//
// Attributes for claims: the upstream identity's attrs hold the user entry's attributes that
// were read: the ones the connector maps itself (id, email, name, username, group matchers),
// those listed in user_search.attributes, and those the connector's claims.map rules name
// with a constant key (attrs.employeeNumber, attrs["employeeNumber"], has(...), "x" in attrs),
// which the claims pipeline passes in connectors.Deps.Attributes. An attribute is reported
// under the server's spelling and under the one the configuration uses. Attributes holding
// password material (userPassword, unicodePwd, ...) are never read for claims. An attribute
// the directory does not return for a user (no value, or not readable by the service
// account) is simply absent; `gatehouse claims explain` says so with a hint.
//
// Service account: bind_dn is a DN; with preset: active_directory it may also be a user
// principal name (broker@corp.example.com) or a down-level logon name (CORP\broker), the
// other names AD accepts in a simple bind.
//
// The upstream Subject is the id_attr value (entryUUID on OpenLDAP; objectGUID on AD,
// encoded as the usual GUID string); the Stash is the user's DN, which Refresh reads again.
package ldap
