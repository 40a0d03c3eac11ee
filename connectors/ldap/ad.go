package ldap

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// uacAccountDisable is the ACCOUNTDISABLE bit of AD's userAccountControl.
const uacAccountDisable = 0x2

// adDataRe finds the sub-code in an AD bind diagnostic such as
// "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563".
var adDataRe = regexp.MustCompile(`(?i)\bdata ([0-9a-f]{3,8})\b`)

// adSubCode returns the lower-case AD sub-code of a bind diagnostic, or "".
func adSubCode(diag string) string {
	m := adDataRe.FindStringSubmatch(diag)
	if m == nil {
		return ""
	}
	return strings.ToLower(m[1])
}

// adReasons maps the AD bind sub-codes that AD reports only after it has checked the
// password to the reason shown to the user. The others (52e wrong password, 525 no such user,
// 775 locked, which AD reports whatever the password) are bad credentials, so that a stranger
// cannot learn which usernames exist.
var adReasons = map[string]string{
	"530": "your account may not sign in at this time of day",
	"531": "your account may not sign in from this computer",
	"532": "your password has expired; change it, then sign in again",
	"533": "your account is disabled",
	"701": "your account has expired",
	"773": "you must change your password before you can sign in",
}

// adDescriptions names every known sub-code for the log.
var adDescriptions = map[string]string{
	"525": "user not found", "52e": "invalid credentials", "530": "not permitted at this time",
	"531": "not permitted at this workstation", "532": "password expired", "533": "account disabled",
	"701": "account expired", "773": "user must reset password", "775": "account locked out",
}

// ppolicyDenied is the reason for a draft-behera password policy error that accompanies a
// successful (or right-password) bind, or "".
func ppolicyDenied(code int8) string {
	switch code {
	case 0:
		return "your password has expired; change it, then sign in again"
	case 2:
		return "you must change your password before you can sign in"
	}
	return ""
}

// bindFailure maps a bind refused with invalidCredentials (49). Only states the server
// reports after checking the password become a *connectors.DeniedError.
func bindFailure(diag string) error {
	if code := adSubCode(diag); code != "" {
		if reason, ok := adReasons[code]; ok {
			return &connectors.DeniedError{Reason: reason}
		}
	}
	// OpenLDAP ppolicy: a locked account fails with 49 whatever the password; the control
	// says why, but saying it would tell a stranger the account exists.
	return connectors.ErrBadCredentials
}

// describeBindFailure is the log detail of a refused bind (never shown to the user).
func describeBindFailure(diag string, pp *goldap.ControlBeheraPasswordPolicy) string {
	if code := adSubCode(diag); code != "" {
		if d, ok := adDescriptions[code]; ok {
			return "AD " + code + ": " + d
		}
		return "AD " + code
	}
	if pp != nil && pp.Error >= 0 {
		return "password policy: " + pp.ErrorString
	}
	return diag
}

// adTime parses an AD FILETIME (100 ns since 1601) as in accountExpires; 0 and
// 0x7FFFFFFFFFFFFFFF mean never, reported as ok=false.
func adTime(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n == 1<<63-1 {
		return time.Time{}, false
	}
	const epochDiff = 116444736000000000 // 1601-01-01 to 1970-01-01 in 100 ns
	return time.Unix(0, 0).Add(time.Duration(n-epochDiff) * 100).UTC(), true
}

// guidString encodes a 16-byte AD objectGUID as its usual string form: the first three
// fields are little-endian ({d3020100-0504-0706-0809-0a0b0c0d0e0f} for bytes 00..0f).
func guidString(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

// sidString encodes a binary objectSid as S-1-5-21-...; ok is false when b is malformed.
func sidString(b []byte) (string, bool) {
	if len(b) < 8 || int(b[1])*4+8 != len(b) {
		return "", false
	}
	var auth uint64
	for _, x := range b[2:8] {
		auth = auth<<8 | uint64(x)
	}
	var s strings.Builder
	fmt.Fprintf(&s, "S-%d-%d", b[0], auth)
	for i := 0; i < int(b[1]); i++ {
		fmt.Fprintf(&s, "-%d", binary.LittleEndian.Uint32(b[8+4*i:]))
	}
	return s.String(), true
}

// encodeID turns the id_attr value into the upstream subject: objectGUID as a GUID string,
// objectSid as an S-1-... string, text as is, other binary as unpadded base64url.
func encodeID(attr string, raw []byte) string {
	switch {
	case strings.EqualFold(attr, "objectGUID") && len(raw) == 16:
		return guidString(raw)
	case strings.EqualFold(attr, "objectSid"):
		if s, ok := sidString(raw); ok {
			return s
		}
	}
	if utf8.Valid(raw) {
		return string(raw)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}
