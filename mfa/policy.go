package mfa

import (
	"fmt"
	"slices"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Authentication context class references Gatehouse asserts in the acr claim.
const (
	// ACRPassword: one factor (a password, or whatever the connector checked).
	ACRPassword = "urn:gatehouse:acr:pwd"
	// ACRMFA: a second factor was checked by Gatehouse, or an upstream the operator trusts
	// (trust_upstream_mfa) proved multi-factor authentication.
	ACRMFA = "urn:gatehouse:acr:mfa"
	// ACRPhishingResistant: a passkey sign-in with a credential that may be synced: multi-
	// factor (possession and user verification) and bound to Gatehouse's origin (OpenID
	// Extended Authentication Profile "phr").
	ACRPhishingResistant = "phr"
	// ACRPhishingResistantHardware: a passkey sign-in with a credential bound to its device
	// (EAP "phrh").
	ACRPhishingResistantHardware = "phrh"
)

// ACRValuesSupported lists Gatehouse's acr values, weakest first (for discovery); the
// passkey ones when a connector offers passkeys.
func ACRValuesSupported(passkeys bool) []string {
	if passkeys {
		return []string{ACRPassword, ACRMFA, ACRPhishingResistant, ACRPhishingResistantHardware}
	}
	return []string{ACRPassword, ACRMFA}
}

// Authentication method references (RFC 8176) Gatehouse adds to amr.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp" // TOTP code or recovery code
	AMRHardware = "hwk" // WebAuthn credential bound to its device
	AMRSoftware = "swk" // WebAuthn credential that may be synced (backup eligible passkey)
	AMRMFA      = "mfa"
	AMRFed      = "fed"
)

// Policy is a connector's or client's MFA setting.
type Policy string

// Policies.
const (
	// Off: never ask for a second factor (unless another setting asks).
	Off Policy = "off"
	// Optional: ask users who have enrolled a factor.
	Optional Policy = "optional"
	// Required: every user must pass a second factor, enrolling one at first login.
	Required Policy = "required"
)

// ParsePolicy parses a configured policy; "" is Off.
func ParsePolicy(s string) (Policy, error) {
	switch Policy(s) {
	case "", Off:
		return Off, nil
	case Optional, Required:
		return Policy(s), nil
	}
	return Off, fmt.Errorf("mfa: policy must be required, optional or off, got %q", s)
}

func (p Policy) rank() int {
	switch p {
	case Required:
		return 2
	case Optional:
		return 1
	}
	return 0
}

// Need says what a login needs.
type Need int

// Needs.
const (
	// NotNeeded: no second factor.
	NotNeeded Need = iota
	// IfEnrolled: a second factor when the user has one.
	IfEnrolled
	// Needed: a second factor; a user without one enrols first.
	Needed
)

// Request is what Decide weighs.
type Request struct {
	Connector Policy
	Client    Policy
	// ACRValues are the client's acr_values; asking for ACRMFA (or another multi-factor
	// class) makes the second factor needed.
	ACRValues []string
}

// mfaACRs are acr values that mean multi-factor (Gatehouse's own, and common upstream ones).
var mfaACRs = []string{
	ACRMFA,
	"http://schemas.openid.net/pape/policies/2007/06/multi-factor",
	"http://schemas.openid.net/pape/policies/2007/06/multi-factor-physical",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
	"urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
	"http://schemas.microsoft.com/claims/multipleauthn",
	"phr", "phrh", "mfa",
}

// isMFAACR reports whether an acr value means multi-factor.
func isMFAACR(v string) bool { return slices.Contains(mfaACRs, v) }

// Satisfied reports whether an authentication already counts as multi-factor for Gatehouse.
// Only Gatehouse's own markers count (a second factor, or a passkey sign-in): Normalize
// decides what an upstream's claims are worth.
func Satisfied(a storage.Authentication) bool {
	switch a.ACR {
	case ACRMFA, ACRPhishingResistant, ACRPhishingResistantHardware:
		return true
	}
	return false
}

// Passkey returns the authentication of a passkey sign-in (PasskeyLogin.AMR: hwk or swk,
// and user): amr is those methods and "mfa" (the passkey is something the user has and the
// authenticator verified who holds it), acr ACRPhishingResistantHardware for hwk, else
// ACRPhishingResistant. No password was involved, so pwd is not there. It satisfies every
// MFA policy: the second-factor step is skipped.
func Passkey(a storage.Authentication, methods []string) storage.Authentication {
	amr := slices.Clone(methods)
	if !slices.Contains(amr, AMRMFA) {
		amr = append(amr, AMRMFA)
	}
	a.AMR = amr
	a.ACR = ACRPhishingResistant
	if slices.Contains(methods, AMRHardware) {
		a.ACR = ACRPhishingResistantHardware
	}
	return a
}

// Decide says whether a login (fresh, after Normalize, or an existing session) needs a second
// factor.
func Decide(req Request, a storage.Authentication) Need {
	if Satisfied(a) {
		return NotNeeded
	}
	for _, v := range req.ACRValues {
		if isMFAACR(v) {
			return Needed
		}
	}
	p := req.Connector
	if req.Client.rank() > p.rank() {
		p = req.Client
	}
	switch p {
	case Required:
		return Needed
	case Optional:
		return IfEnrolled
	}
	return NotNeeded
}

// UpstreamProvesMFA reports whether an upstream's amr/acr (OIDC) or AuthnContext (SAML, as
// acr) says the user already passed multi-factor authentication.
func UpstreamProvesMFA(amr []string, acr string) bool {
	if isMFAACR(acr) {
		return true
	}
	if slices.Contains(amr, AMRMFA) {
		return true
	}
	strong := 0
	for _, m := range amr {
		switch m {
		case AMROTP, AMRHardware, AMRSoftware, "sms", "tel", "fpt", "face", "iris", "retina", "vbm", "pin", "sc", "swk+pin", "user":
			strong++
		}
	}
	return strong > 0 && len(amr) > 1
}

// untrustedAMR are the amr values kept from a connector whose upstream the operator does not
// trust: they claim no more than one factor (pwd: the local and LDAP connectors checked a
// password; fed: a federated login), so no relying party can read a second factor into them.
var untrustedAMR = []string{AMRPassword, AMRFed}

// Normalize turns a fresh login's authentication (amr/acr as the connector reported them)
// into what Gatehouse asserts: acr is always one of Gatehouse's own values, and an upstream's
// multi-factor claim counts only when the operator trusts that connector's MFA. An untrusted
// upstream's amr keeps only pwd and fed: its otp, hwk, mfa... never reach Gatehouse's tokens.
func Normalize(a storage.Authentication, trustUpstream bool) storage.Authentication {
	proves := UpstreamProvesMFA(a.AMR, a.ACR)
	amr := slices.Clone(a.AMR)
	if trustUpstream && proves {
		a.ACR = ACRMFA
		if !slices.Contains(amr, AMRMFA) {
			amr = append(amr, AMRMFA)
		}
		a.AMR = amr
		return a
	}
	a.ACR = ACRPassword
	if !trustUpstream {
		a.AMR = slices.DeleteFunc(amr, func(m string) bool { return !slices.Contains(untrustedAMR, m) })
		return a
	}
	a.AMR = slices.DeleteFunc(amr, func(m string) bool { return m == AMRMFA })
	return a
}

// Upgrade returns the authentication after a second factor of the given amr method
// (AMROTP, AMRHardware or AMRSoftware) passed: amr gains the method and "mfa", acr becomes
// ACRMFA. AuthTime is left alone (it is when the user authenticated to the connector).
func Upgrade(a storage.Authentication, method string) storage.Authentication {
	amr := slices.Clone(a.AMR)
	for _, m := range []string{method, AMRMFA} {
		if m != "" && !slices.Contains(amr, m) {
			amr = append(amr, m)
		}
	}
	a.AMR = amr
	a.ACR = ACRMFA
	return a
}
