package forwardauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func testHandler(secure bool) *Handler {
	h := &Handler{byHost: map[string]*App{}, Deps: Deps{Settings: Settings{Secure: secure}}}
	app := &App{ID: "grafana", Hosts: []string{"grafana.corp.example", "wiki.corp.example:8443"}}
	for _, host := range app.Hosts {
		h.byHost[host] = app
	}
	return h
}

func TestParseOriginal(t *testing.T) {
	tests := []struct {
		name     string
		hdr      map[string][]string
		envoy    string
		host     string
		wantURL  string
		wantPath string
		wantErr  bool
	}{
		{name: "forwarded", hdr: map[string][]string{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"Grafana.Corp.Example"}, "X-Forwarded-Uri": {"/d/x?a=1"}},
			wantURL: "https://grafana.corp.example/d/x?a=1", wantPath: "/d/x"},
		{name: "proto defaults to http", hdr: map[string][]string{"X-Forwarded-Host": {"a.example"}, "X-Forwarded-Uri": {"/"}}, wantURL: "http://a.example/", wantPath: "/"},
		{name: "original url", hdr: map[string][]string{"X-Original-URL": {"https://a.example/x/../admin/"}}, wantURL: "https://a.example/x/../admin/", wantPath: "/admin/"},
		{name: "encoded segment is decoded for the rules", hdr: map[string][]string{"X-Original-URL": {"https://a.example/%61dmin%2Fusers"}}, wantURL: "https://a.example/%61dmin%2Fusers", wantPath: "/admin/users"},
		{name: "envoy", envoy: "/p?q=1", host: "a.example:8443", hdr: map[string][]string{"X-Forwarded-Proto": {"https"}}, wantURL: "https://a.example:8443/p?q=1", wantPath: "/p"},
		{name: "envoy ignores X-Forwarded-Host", envoy: "/p", host: "a.example", hdr: map[string][]string{"X-Forwarded-Host": {"b.example"}}, wantURL: "http://a.example/p", wantPath: "/p"},
		{name: "nothing", wantErr: true},
		{name: "host twice", hdr: map[string][]string{"X-Forwarded-Host": {"a.example", "b.example"}, "X-Forwarded-Uri": {"/"}}, wantErr: true},
		{name: "uri twice", hdr: map[string][]string{"X-Forwarded-Host": {"a.example"}, "X-Forwarded-Uri": {"/", "/admin"}}, wantErr: true},
		{name: "relative uri", hdr: map[string][]string{"X-Forwarded-Host": {"a.example"}, "X-Forwarded-Uri": {"admin"}}, wantErr: true},
		{name: "scheme-relative uri", hdr: map[string][]string{"X-Forwarded-Host": {"a.example"}, "X-Forwarded-Uri": {"//evil.example/"}}, wantErr: true},
		{name: "host with user info", hdr: map[string][]string{"X-Forwarded-Host": {"a.example@evil.example"}, "X-Forwarded-Uri": {"/"}}, wantErr: true},
		{name: "host with path", hdr: map[string][]string{"X-Forwarded-Host": {"evil.example/x"}, "X-Forwarded-Uri": {"/"}}, wantErr: true},
		{name: "bad proto", hdr: map[string][]string{"X-Forwarded-Proto": {"ftp"}, "X-Forwarded-Host": {"a.example"}, "X-Forwarded-Uri": {"/"}}, wantErr: true},
		{name: "original url not absolute", hdr: map[string][]string{"X-Original-URL": {"/admin"}}, wantErr: true},
		{name: "original url with fragment", hdr: map[string][]string{"X-Original-URL": {"https://a.example/#x"}}, wantErr: true},
		{name: "line break", hdr: map[string][]string{"X-Original-URL": {"https://a.example/\r\nx"}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{Header: http.Header{}, Host: tt.host}
			for k, v := range tt.hdr {
				r.Header[http.CanonicalHeaderKey(k)] = v
			}
			o, err := ParseOriginal(r, tt.envoy)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("accepted: %v", o.URL)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.URL.String() != tt.wantURL || o.Path != tt.wantPath {
				t.Fatalf("got %s (path %q), want %s (path %q)", o.URL, o.Path, tt.wantURL, tt.wantPath)
			}
		})
	}
}

func TestParseReturn(t *testing.T) {
	tests := []struct {
		rd     string
		secure bool
		want   string // "" refused
	}{
		{"https://grafana.corp.example/d/x?a=1", true, "https://grafana.corp.example/d/x?a=1"},
		{"https://GRAFANA.corp.example/", true, "https://grafana.corp.example/"},
		{"https://grafana.corp.example:443/", true, "https://grafana.corp.example:443/"},
		{"https://wiki.corp.example:8443/", true, "https://wiki.corp.example:8443/"},
		{"http://grafana.corp.example/", false, "http://grafana.corp.example/"},
		{"http://grafana.corp.example/", true, ""}, // downgrade on an https issuer
		{"https://wiki.corp.example/", true, ""},   // port not configured
		{"https://evil.example/", true, ""},
		{"https://grafana.corp.example@evil.example/", true, ""},
		{"https://grafana.corp.example.evil.example/", true, ""},
		{"https://grafana.corp.example\\@evil.example/", true, ""},
		{"//grafana.corp.example/", true, ""},
		{"/d/x", true, ""},
		{"javascript://grafana.corp.example/%0aalert(1)", true, ""},
		{"https://grafana.corp.example/#frag", true, ""},
		{"", true, ""},
		{"https://grafana.corp.example/" + strings.Repeat("a", maxURL), true, ""},
	}
	for _, tt := range tests {
		_, got, err := testHandler(tt.secure).ParseReturn(tt.rd)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("ParseReturn(%q) = %q, %v; want %q", tt.rd, got, err, tt.want)
		}
	}
}

// FuzzParseReturn: whatever rd is, an accepted return URL re-parses to a configured host
// with an http(s) scheme and no user info, and is what the browser is sent to.
func FuzzParseReturn(f *testing.F) {
	for _, s := range []string{"https://grafana.corp.example/x", "https://a@grafana.corp.example/", "//x", "https://wiki.corp.example:8443/?q#f", "http:/\\evil"} {
		f.Add(s)
	}
	h := testHandler(false)
	f.Fuzz(func(t *testing.T, rd string) {
		app, got, err := h.ParseReturn(rd)
		if err != nil {
			return
		}
		u, err := url.Parse(got)
		if err != nil || app == nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || h.byHost[u.Host] == nil && h.byHost[u.Hostname()] == nil {
			t.Fatalf("accepted %q as %q", rd, got)
		}
	})
}

// FuzzParseOriginal: an accepted original URL is absolute http(s) without user info, and its
// rule path is clean and absolute.
func FuzzParseOriginal(f *testing.F) {
	f.Add("https", "a.example", "/x/../y", "", "")
	f.Add("", "", "", "https://a.example/%2e%2e/admin", "")
	f.Add("http", "", "", "", "/p//q")
	f.Fuzz(func(t *testing.T, proto, host, uri, orig, envoy string) {
		r := &http.Request{Header: http.Header{}, Host: host}
		for k, v := range map[string]string{"X-Forwarded-Proto": proto, "X-Forwarded-Host": host, "X-Forwarded-Uri": uri, "X-Original-URL": orig} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		o, err := ParseOriginal(r, envoy)
		if err != nil {
			return
		}
		if (o.URL.Scheme != "http" && o.URL.Scheme != "https") || o.URL.Host == "" || o.URL.User != nil ||
			!strings.HasPrefix(o.Path, "/") || strings.Contains(o.Path, "/../") || strings.Contains(o.Path, "//") || strings.HasSuffix(o.Path, "/..") {
			t.Fatalf("accepted %+v as %s path %q", r.Header, o.URL, o.Path)
		}
	})
}
