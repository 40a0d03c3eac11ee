package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/loadgen"
)

const loadtestUsage = `Usage: gatehouse loadtest --issuer URL [flags]

Drives load against a running broker and prints, per scenario: requests, errors, req/s,
p50/p90/p99/max latency and, with --pid, the server's CPU milliseconds per request (from
/proc/PID/stat) and its RSS. Scenarios: discovery, jwks, userinfo, introspect, refresh (one
rotation chain per worker), codeflow (a fresh browser per iteration: authorize, login form,
consent, code exchange with PKCE), forwardauth (a signed-in GET /forward-auth as a proxy asks
it for --app-url, after one forward-auth login per worker; the loadtest's address must be in
web.trusted_proxies; followed by a reference row, the CPU time of one RS256 signature in this
process, and a line setting the server's CPU per check beside one ES256 signature measured in
this process before the load), or all (forwardauth only with --app-url). Only loopback issuers unless
--allow-remote; names under .localhost are dialled at 127.0.0.1. ` + "`gatehouse loadtest seed`" + ` fills
a store with N users first (see its --help).

Example:
  gatehouse loadtest --issuer http://127.0.0.1:5556 --client-id app --client-secret S \
    --redirect-uri http://127.0.0.1:9999/cb --username alice --password P \
    --scenario all --duration 10s --concurrency 4 --pid $(pgrep -n gatehouse)
`

// cmdLoadtest drives load against a running broker.
func cmdLoadtest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "seed" {
		return cmdLoadtestSeed(ctx, args[1:], getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	var cfg loadgen.Config
	fs.StringVar(&cfg.Issuer, "issuer", "", "issuer URL of the broker (required)")
	fs.StringVar(&cfg.ClientID, "client-id", "", "client ID")
	fs.StringVar(&cfg.ClientSecret, "client-secret", "", "client secret (empty: a public client)")
	fs.StringVar(&cfg.RedirectURI, "redirect-uri", "", "a redirect URI registered for the client (never contacted)")
	fs.StringVar(&cfg.Username, "username", "", "user to log in as")
	fs.StringVar(&cfg.Password, "password", "", "the user's password")
	fs.StringVar(&cfg.Scope, "scope", loadgen.DefaultScope, "scopes requested by each login")
	fs.StringVar(&cfg.AppURL, "app-url", "", "a protected app's URL (forwardauth scenario)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 8, "concurrent workers")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each scenario runs")
	fs.Int64Var(&cfg.Requests, "requests", 0, "stop each scenario after this many requests (ignores the default duration)")
	fs.IntVar(&cfg.PID, "pid", 0, "the server's process ID: report its CPU time per request and RSS")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow an issuer that is not on a loopback address")
	scenario := fs.String("scenario", loadgen.All, "one of "+strings.Join(loadgen.Scenarios(), "|")+"|all")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	verbose := fs.Bool("v", false, "log progress to stderr")
	if err := parseFlags(ctx, fs, args, loadtestUsage, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatehouse loadtest: unexpected argument %q\n", fs.Arg(0))
		return exitError{"usage"}
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if cfg.Requests > 0 && !durationSet {
		cfg.Duration = 0
	}
	var problems []string
	if cfg.Issuer == "" {
		problems = append(problems, "--issuer is required")
	}
	if *scenario != loadgen.All && !slices.Contains(loadgen.Scenarios(), *scenario) {
		problems = append(problems, fmt.Sprintf("--scenario %q is not one of %s, all", *scenario, strings.Join(loadgen.Scenarios(), ", ")))
	}
	if cfg.Concurrency < 1 {
		problems = append(problems, "--concurrency must be at least 1")
	}
	if cfg.Duration < 0 || cfg.Requests < 0 || (cfg.Duration == 0 && cfg.Requests == 0) {
		problems = append(problems, "give a positive --duration or --requests")
	}
	required := []struct{ name, v string }{{"client-id", cfg.ClientID}, {"redirect-uri", cfg.RedirectURI}, {"username", cfg.Username}, {"password", cfg.Password}}
	switch *scenario {
	case loadgen.ForwardAuth:
		required = []struct{ name, v string }{{"app-url", cfg.AppURL}, {"username", cfg.Username}, {"password", cfg.Password}}
	case loadgen.ClientCredentials:
		required = []struct{ name, v string }{{"client-id", cfg.ClientID}, {"client-secret", cfg.ClientSecret}}
	}
	if *scenario != loadgen.Discovery && *scenario != loadgen.JWKS {
		for _, f := range required {
			if f.v == "" {
				problems = append(problems, fmt.Sprintf("--%s is required for scenario %s", f.name, *scenario))
			}
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "gatehouse loadtest:", p)
		}
		return exitError{"usage"}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	gen, err := loadgen.New(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse loadtest:", err)
		return exitError{"loadtest"}
	}
	defer gen.Close()
	results, runErr := gen.RunAll(ctx, *scenario)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"issuer": cfg.Issuer, "concurrency": cfg.Concurrency, "results": results}); err != nil {
			return err
		}
	} else if len(results) > 0 {
		if err := loadgen.WriteTable(stdout, results); err != nil {
			return err
		}
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "gatehouse loadtest:", runErr)
		return exitError{"loadtest"}
	}
	for _, r := range results {
		if r.Errors > 0 {
			return exitError{"errors under load"}
		}
	}
	return nil
}
