package session

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDevice: the browsers and platforms of real User-Agent headers, the ones that name
// another browser too (Edge, Opera say Chrome; Android says Linux; iPads say Mac OS X), and
// headers it does not know.
func TestDevice(t *testing.T) {
	tests := []struct{ ua, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox · Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge · Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/114.0.0.0", "Opera · Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari · macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0 Mobile/15E148 Safari/604.1", "Chrome · iOS"},
		{"Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", "Safari · iPadOS"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome · Android"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome · Linux"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome · ChromeOS"},
		{"curl/8.5.0", ""},
		{"Go-http-client/1.1", ""},
		{"", ""},
		{"Windows", "Windows"},
		{strings.Repeat("x", 600) + "Firefox/1", ""}, // past the part it reads
	}
	for _, tc := range tests {
		if got := Device(tc.ua); got != tc.want {
			t.Errorf("Device(%.60q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}

// FuzzDevice: whatever the header, Device returns only names from its lists, at most one
// browser and one platform.
func FuzzDevice(f *testing.F) {
	f.Add("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	f.Add("")
	f.Add("Edg/OPR/iPhone")
	known := map[string]bool{}
	for _, list := range [][][2]string{browserTokens, platformTokens} {
		for _, t := range list {
			known[t[1]] = true
		}
	}
	f.Fuzz(func(t *testing.T, ua string) {
		got := Device(ua)
		if got == "" {
			return
		}
		parts := strings.Split(got, " · ")
		if len(parts) > 2 {
			t.Fatalf("Device(%q) = %q: more than a browser and a platform", ua, got)
		}
		for _, p := range parts {
			if !known[p] {
				t.Fatalf("Device(%q) = %q: %q is not a known name", ua, got, p)
			}
		}
	})
}

// TestEstablishDevice: the session names the browser that signed in, from its User-Agent,
// and keeps nothing else of the header; a browser it cannot name keeps the Auth's device.
func TestEstablishDevice(t *testing.T) {
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	tests := []struct{ ua, before, want string }{
		{firefox, "", "Firefox · Linux"},
		{firefox, "Chrome · Android", "Firefox · Linux"},
		{"curl/8.5.0", "Chrome · Android", "Chrome · Android"},
		{"", "", ""},
	}
	for _, tc := range tests {
		m, st, _ := newManager(false, "/")
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.Header.Set("User-Agent", tc.ua)
		a := auth()
		a.Device = tc.before
		s, err := m.Establish(context.Background(), httptest.NewRecorder(), r, ident(), a)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := st.GetSession(context.Background(), s.ID)
		if err != nil || stored.Auth.Device != tc.want {
			t.Errorf("UA %q: stored device %q (%v), want %q", tc.ua, stored.Auth.Device, err, tc.want)
		}
		if strings.Contains(fmt.Sprintf("%+v", stored), "Gecko") {
			t.Errorf("the session keeps the User-Agent header: %+v", stored)
		}
	}
}
