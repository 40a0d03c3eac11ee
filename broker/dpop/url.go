package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"net/url"
	"strings"
)

// keyType names the JWK kty of a parsed key; RSA keys under 2048 bits count as "weak RSA".
func keyType(k any) string {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		return "EC"
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "weak RSA"
		}
		return "RSA"
	case ed25519.PublicKey:
		return "OKP"
	case []byte:
		return "oct"
	default:
		return "unknown"
	}
}

// NormalizeURL returns the form of an http(s) URL that htu is compared in (RFC 9449 4.3,
// check 9; RFC 3986 6.2.2 and 6.2.3): scheme and host lowercased, the scheme's default port
// dropped, an empty path as "/", percent-encodings uppercased and unreserved characters
// decoded; query and fragment removed. ok is false for anything else (relative, another
// scheme, user info, unparsable).
func NormalizeURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if (scheme == "https" && strings.HasSuffix(host, ":443")) || (scheme == "http" && strings.HasSuffix(host, ":80")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	path, ok := normalizePath(u.EscapedPath())
	if !ok {
		return "", false
	}
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// normalizePath uppercases percent-encodings and decodes those of unreserved characters.
func normalizePath(p string) (string, bool) {
	if !strings.Contains(p, "%") {
		return p, true
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return "", false
		}
		c := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(p[i+1:i+3]))
		}
		i += 2
	}
	return b.String(), true
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// isUnreserved reports RFC 3986 2.3 unreserved characters.
func isUnreserved(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~'
}
