package ldap

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	goldap "github.com/go-ldap/ldap/v3"
)

// secretAttrs are attributes that hold password material. They are never requested for
// claims: a rule or an attributes entry naming one is refused (config) or skipped (rules).
var secretAttrs = []string{
	"userPassword", "authPassword", "unicodePwd", "dBCSPwd", "ntPwdHistory", "lmPwdHistory",
	"supplementalCredentials", "msDS-ManagedPassword", "sambaNTPassword", "sambaLMPassword",
	"sambaPasswordHistory", "krbPrincipalKey",
}

// requestableAttr reports why an attribute may not be requested for claims, or nil.
func requestableAttr(a string) error {
	if !attrNameOK(a) {
		return fmt.Errorf("%q is not an attribute name", a)
	}
	base, _, _ := strings.Cut(a, ";")
	for _, s := range secretAttrs {
		if strings.EqualFold(base, s) {
			return fmt.Errorf("%q holds password material and is never read for claims", a)
		}
	}
	return nil
}

// checkBindName accepts a DN everywhere and, on Active Directory, the two other names AD
// accepts in a simple bind: a user principal name (broker@corp.example.com) and a
// down-level logon name (CORP\broker).
func checkBindName(name string, ad bool) error {
	_, dnErr := goldap.ParseDN(name)
	if dnErr == nil && strings.Contains(name, "=") {
		return nil
	}
	kind := ""
	var err error
	switch {
	case strings.Contains(name, `\`):
		kind, err = "a down-level logon name (DOMAIN\\name)", checkDownLevel(name)
	case strings.Contains(name, "@") && !strings.Contains(name, "="):
		kind, err = "a user principal name (name@domain)", checkUPN(name)
	default:
		if dnErr == nil {
			dnErr = errors.New("a DN is attribute=value pairs")
		}
		return fmt.Errorf("not a valid DN: %w", dnErr)
	}
	if err != nil {
		return fmt.Errorf("%q is neither a valid DN nor %s: %w", name, kind, err)
	}
	if !ad {
		return fmt.Errorf("%q is %s, which only Active Directory accepts: set preset: %s, or give the service account's DN", name, kind, PresetActiveDirectory)
	}
	return nil
}

// checkUPN accepts name@dns.domain with a dotted DNS domain.
func checkUPN(s string) error {
	local, domain, _ := strings.Cut(s, "@")
	if local == "" || strings.ContainsAny(local, `@\"/[]:;|=,+*?<>`) || hasSpaceOrControl(local) {
		return errors.New("the name before @ is empty or has characters AD does not allow")
	}
	if !strings.Contains(domain, ".") || len(domain) > 253 {
		return errors.New("the domain after @ must be a DNS name such as corp.example.com")
	}
	for _, label := range strings.Split(domain, ".") {
		if !dnsLabelOK(label) {
			return fmt.Errorf("%q is not a DNS label", label)
		}
	}
	return nil
}

// dnsLabelOK reports whether s is one label of a DNS name: 1 to 63 ASCII letters, digits and
// inner hyphens.
func dnsLabelOK(s string) bool {
	if s == "" || len(s) > 63 || strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") {
		return false
	}
	for _, r := range s {
		if r != '-' && (r >= 0x80 || !unicode.IsLetter(r) && !unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// checkDownLevel accepts DOMAIN\name: a NetBIOS domain (1-15 characters) and an account name.
func checkDownLevel(s string) error {
	domain, name, _ := strings.Cut(s, `\`)
	if domain == "" || len(domain) > 15 || strings.ContainsAny(domain, `\/:*?"<>|.=,`) || hasSpaceOrControl(domain) {
		return errors.New("the domain must be a NetBIOS name of 1 to 15 characters")
	}
	if name == "" || len(name) > 256 || strings.ContainsAny(name, `\"/[]:;|=,+*?<>@`) || hasSpaceOrControl(name) {
		return errors.New("the account name is empty or has characters AD does not allow")
	}
	return nil
}

func hasSpaceOrControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
}
