package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
)

// defaultHealthURL is what `gatehouse healthcheck` asks with neither --url nor --config: the
// readiness of the default listener.
const defaultHealthURL = "http://127.0.0.1:5556/readyz"

const healthcheckUsage = `Usage: gatehouse healthcheck [--url URL | --config FILE] [--timeout 5s]

One GET of the broker's /readyz: exit status 0 on a 2xx answer, 1 otherwise (a container
HEALTHCHECK in an image with no shell or curl).`

// cmdHealthcheck is `gatehouse healthcheck [--url URL | --config FILE] [--timeout D]`: one GET,
// exit status 0 on a 2xx answer and 1 otherwise, for a container HEALTHCHECK in an image with
// no shell or curl (distroless). --config finds the URL in the configuration: admin.http when
// set, else the public listener under the issuer's path.
func cmdHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	target := fs.String("url", "", "URL to GET (default "+defaultHealthURL+", or $"+listenEnv+"/readyz)")
	cfgPath := fs.String("config", "", "configuration file: check its admin (or public) listener's /readyz")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := parseFlags(ctx, fs, args, healthcheckUsage, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		printUsage(stderr, fs, healthcheckUsage)
		return exitError{"usage"}
	}
	u := *target
	switch {
	case u != "" && *cfgPath != "":
		fmt.Fprintln(stderr, "gatehouse healthcheck: give --url or --config, not both")
		return exitError{"usage"}
	case *cfgPath != "":
		cfg, err := config.Load(*cfgPath, getenv)
		if err != nil {
			reportConfigErrors(stderr, *cfgPath, err)
			return exitError{"invalid config"}
		}
		cfg.ApplyDefaults()
		u = healthURL(cfg)
	case u == "" && getenv != nil && getenv(listenEnv) != "":
		u = "http://" + getenv(listenEnv) + "/readyz" // the default moved by $GATEHOUSE_LISTEN
	case u == "":
		u = defaultHealthURL
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse healthcheck: %v\n", err)
		return exitError{"bad url"}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse healthcheck: %s: %v\n", u, err)
		return exitError{"unreachable"}
	}
	defer resp.Body.Close()                               //nolint:errcheck // read-only response
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) //nolint:errcheck // the status decides; the body is only shown
	msg := strings.TrimSpace(string(body))
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "gatehouse healthcheck: %s: %s %s\n", u, resp.Status, msg)
		return exitError{"unhealthy"}
	}
	fmt.Fprintf(stdout, "%s: %s %s\n", u, resp.Status, msg)
	return nil
}

// healthURL is the readiness URL of a configuration's own process: the admin listener when
// there is one, else the plain-HTTP public listener under the issuer's path, else the https
// one. A listener on every address (":5558", "0.0.0.0:5558", "[::]:5558") is asked on loopback.
func healthURL(cfg *config.Config) string {
	if cfg.Admin.HTTP != "" && cfg.Admin.TLSCert != "" {
		return "https://" + loopback(cfg.Admin.HTTP) + "/readyz"
	}
	if cfg.Admin.HTTP != "" {
		return "http://" + loopback(cfg.Admin.HTTP) + "/readyz"
	}
	prefix := ""
	if iu, err := url.Parse(cfg.Issuer); err == nil {
		prefix = strings.TrimSuffix(iu.Path, "/")
	}
	if cfg.Web.HTTP != "" {
		return "http://" + loopback(cfg.Web.HTTP) + prefix + "/readyz"
	}
	return "https://" + loopback(cfg.Web.HTTPS) + prefix + "/readyz"
}

// loopback replaces an unspecified listen host with 127.0.0.1.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
