package forwardauth

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// maxURL bounds an original or return URL.
const maxURL = 8 << 10

// Errors of ParseOriginal and ParseReturn.
var (
	ErrNoOriginal   = errors.New("forwardauth: the proxy sent no original URL (X-Original-URL or X-Forwarded-Host and X-Forwarded-Uri)")
	ErrBadOriginal  = errors.New("forwardauth: the original URL is malformed")
	ErrUnknownHost  = errors.New("forwardauth: the host is not a configured protected app's")
	errAmbiguousHdr = errors.New("forwardauth: a forwarding header was sent more than once")
)

// Original is the request a proxy asks about.
type Original struct {
	// URL is the absolute original URL (scheme, lowercase host[:port], escaped path, query),
	// re-serialized from its parsed parts.
	URL *url.URL
	// Path is the clean, decoded path that requirements and bypass rules are checked on.
	Path string
}

// single returns the only value of a header: "" when absent, an error when repeated.
func single(h http.Header, name string) (string, error) {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return strings.TrimSpace(vs[0]), nil
	}
	return "", errAmbiguousHdr
}

// ParseOriginal reads the original request from a trusted proxy's headers: X-Original-URL
// (an absolute URL, nginx), else X-Forwarded-Proto (default http), X-Forwarded-Host and
// X-Forwarded-Uri (Traefik, Caddy, nginx). envoyURI, when not empty, is the original
// request-URI Envoy appended to the check path; the host is then r.Host. A header sent twice is
// refused (two proxies disagreeing is not a question to answer).
func ParseOriginal(r *http.Request, envoyURI string) (Original, error) {
	orig, err := single(r.Header, "X-Original-URL")
	if err != nil {
		return Original{}, err
	}
	if orig != "" && envoyURI == "" {
		return parseAbsolute(orig)
	}
	proto, err := single(r.Header, "X-Forwarded-Proto")
	if err != nil {
		return Original{}, err
	}
	host, uri := r.Host, envoyURI
	if envoyURI == "" {
		if host, err = single(r.Header, "X-Forwarded-Host"); err != nil {
			return Original{}, err
		}
		if uri, err = single(r.Header, "X-Forwarded-Uri"); err != nil {
			return Original{}, err
		}
	}
	if host == "" || uri == "" {
		return Original{}, ErrNoOriginal
	}
	if proto == "" {
		proto = "http"
	}
	if proto != "http" && proto != "https" || !strings.HasPrefix(uri, "/") || strings.HasPrefix(uri, "//") ||
		strings.ContainsFunc(host, func(c rune) bool { return !hostChar(c) }) {
		return Original{}, ErrBadOriginal
	}
	return parseAbsolute(proto + "://" + host + uri)
}

// parseAbsolute parses an absolute http(s) URL without user info or fragment, and cleans its path.
func parseAbsolute(s string) (Original, error) {
	if len(s) > maxURL || strings.ContainsAny(s, "\\\x00\r\n\t ") {
		return Original{}, ErrBadOriginal
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" ||
		u.Fragment != "" || strings.HasSuffix(u.Host, ":") {
		return Original{}, ErrBadOriginal
	}
	u.Host = strings.ToLower(u.Host)
	p := u.Path
	if p == "" {
		p = "/"
	}
	if !strings.HasPrefix(p, "/") {
		return Original{}, ErrBadOriginal
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return Original{URL: u, Path: clean}, nil
}

// app returns the app served on the URL's host, or ErrUnknownHost.
func (h *Handler) app(u *url.URL) (*App, error) {
	if a := h.byHost[u.Host]; a != nil {
		return a, nil
	}
	// A default port written out (https://a.example:443/) is the host without it.
	if (u.Scheme == "https" && strings.HasSuffix(u.Host, ":443")) || (u.Scheme == "http" && strings.HasSuffix(u.Host, ":80")) {
		if a := h.byHost[u.Hostname()]; a != nil {
			return a, nil
		}
	}
	return nil, ErrUnknownHost
}

// ParseReturn validates a return URL (the rd parameter of the login start): an absolute URL on
// a configured app's host, https when the issuer is (http allowed only on an http issuer). It
// returns the app and the URL re-serialized from its parsed parts: the browser is only ever
// sent to that string, never to the raw parameter.
func (h *Handler) ParseReturn(rd string) (*App, string, error) {
	o, err := parseAbsolute(rd)
	if err != nil {
		return nil, "", err
	}
	if h.Settings.Secure && o.URL.Scheme != "https" {
		return nil, "", ErrBadOriginal
	}
	a, err := h.app(o.URL)
	if err != nil {
		return nil, "", err
	}
	return a, o.URL.String(), nil
}

// bypassed reports whether the clean path is under one of the app's bypass prefixes.
func (a *App) bypassed(p string) bool {
	for _, b := range a.Bypass {
		if p == b || strings.HasPrefix(p, b+"/") || b == "/" {
			return true
		}
	}
	return false
}

// hostChar reports whether c may appear in a forwarded host[:port] (letters, digits, '.',
// '-', ':', and the brackets of an IPv6 literal).
func hostChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)
}
