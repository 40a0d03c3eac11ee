package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/config"
)

func TestHealthcheck(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("starting: opening storage\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	}))
	defer srv.Close()

	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"healthcheck", "--url", srv.URL + "/readyz"}, nil, nil, &out, &errb); err != nil {
		t.Fatalf("ready: %v (%s)", err, errb.String())
	}
	if !strings.Contains(out.String(), "200 OK ready") {
		t.Errorf("stdout %q", out.String())
	}
	ready = false
	errb.Reset()
	if err := run(t.Context(), []string{"healthcheck", "--url", srv.URL + "/readyz"}, nil, nil, &out, &errb); err == nil {
		t.Fatal("not ready: exit 0")
	}
	if !strings.Contains(errb.String(), "503 Service Unavailable starting: opening storage") {
		t.Errorf("stderr %q", errb.String())
	}
	srv.Close()
	errb.Reset()
	if err := run(t.Context(), []string{"healthcheck", "--url", srv.URL + "/readyz", "--timeout", "2s"}, nil, nil, &out, &errb); err == nil {
		t.Fatal("nothing listening: exit 0")
	}

	// --config: the admin listener of the file.
	cfgFile := filepath.Join(t.TempDir(), "gh.yaml")
	if err := os.WriteFile(cfgFile, []byte("admin: { http: \"0.0.0.0:1\" }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if err := run(t.Context(), []string{"healthcheck", "--config", cfgFile}, nil, nil, &out, &errb); err == nil ||
		!strings.Contains(errb.String(), "http://127.0.0.1:1/readyz") {
		t.Errorf("--config: err %v, stderr %q", err, errb.String())
	}
}

func TestHealthURL(t *testing.T) {
	for _, c := range []struct {
		cfg  config.Config
		want string
	}{
		{config.Config{Admin: config.Admin{HTTP: ":5558"}, Web: config.Web{HTTP: "0.0.0.0:5556"}}, "http://127.0.0.1:5558/readyz"},
		{config.Config{Admin: config.Admin{HTTP: "10.1.2.3:5558"}}, "http://10.1.2.3:5558/readyz"},
		{config.Config{Issuer: "https://id.example/gh/", Web: config.Web{HTTP: "[::]:5556"}}, "http://127.0.0.1:5556/gh/readyz"},
		{config.Config{Issuer: "https://id.example", Web: config.Web{HTTPS: ":8443"}}, "https://127.0.0.1:8443/readyz"},
	} {
		if got := healthURL(&c.cfg); got != c.want {
			t.Errorf("healthURL(%+v) = %s, want %s", c.cfg.Admin, got, c.want)
		}
	}
}
