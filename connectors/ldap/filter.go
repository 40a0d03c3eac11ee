package ldap

import (
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
)

// inChainRule is Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: member:<rule>:=DN matches
// groups that contain DN directly or through any chain of nested groups.
const inChainRule = "1.2.840.113556.1.4.1941"

// wrapFilter puts parentheses around a configured filter written without them.
func wrapFilter(f string) string {
	f = strings.TrimSpace(f)
	if f == "" || strings.HasPrefix(f, "(") {
		return f
	}
	return "(" + f + ")"
}

// eq is the equality assertion (attr=value) with value escaped (RFC 4515).
func eq(attr, value string) string {
	return "(" + attr + "=" + goldap.EscapeFilter(value) + ")"
}

// userFilter is (&base(|(a1=username)(a2=username)...)) with username escaped, so no input
// can change the filter's structure.
func userFilter(base string, attrs []string, username string) string {
	var b strings.Builder
	b.WriteString("(&")
	b.WriteString(wrapFilter(base))
	b.WriteString("(|")
	for _, a := range attrs {
		b.WriteString(eq(a, username))
	}
	b.WriteString("))")
	return b.String()
}

// memberFilter is (&base(|(attr=v1)(attr=v2)...)) over every (attr, value) pair; inChain
// turns the assertions into AD in-chain extensible matches (attr:1.2.840.113556.1.4.1941:=v).
func memberFilter(base string, attrs, values []string, inChain bool) string {
	var b strings.Builder
	b.WriteString("(&")
	b.WriteString(wrapFilter(base))
	b.WriteString("(|")
	for _, a := range attrs {
		for _, v := range values {
			if inChain {
				b.WriteString("(" + a + ":" + inChainRule + ":=" + goldap.EscapeFilter(v) + ")")
			} else {
				b.WriteString(eq(a, v))
			}
		}
	}
	b.WriteString("))")
	return b.String()
}
