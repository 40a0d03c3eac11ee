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
this process before the load), or all (forwardauth only with --app-url). Scenario abuse
(not part of all; needs --pid) measures the server's memory under what one attacker can open
at once: --auth-requests abandoned logins, --conns held connections, --saml-posts large SAML
POSTs; it prints the RSS after and the peak during each step, and fails above --max-rss. Only loopback issuers unless
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
	var abuse loadgen.AbuseOptions
	fs.IntVar(&abuse.AuthRequests, "auth-requests", 10000, "abuse: authorization requests started and abandoned")
	fs.IntVar(&abuse.Conns, "conns", 10000, "abuse: connections opened and held (half idle after one request, half silent)")
	fs.DurationVar(&abuse.Hold, "hold", 5*time.Second, "abuse: how long the connections are held")
	fs.IntVar(&abuse.SAMLPosts, "saml-posts", 1000, "abuse: large SAML POSTs to the IdP's SSO endpoint")
	fs.IntVar(&abuse.SAMLConcurrency, "saml-concurrency", 64, "abuse: SAML POSTs at once")
	fs.IntVar(&abuse.SAMLBody, "saml-body", 250<<10, "abuse: bytes of each SAML POST")
	maxRSS := fs.Int64("max-rss", 0, "abuse: fail when the server's RSS exceeds this many MB during any step (0: no bound)")
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
	if *scenario != loadgen.All && *scenario != scenarioAbuse && !slices.Contains(loadgen.Scenarios(), *scenario) {
		problems = append(problems, fmt.Sprintf("--scenario %q is not one of %s, all, abuse", *scenario, strings.Join(loadgen.Scenarios(), ", ")))
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
	case scenarioAbuse:
		required = []struct{ name, v string }{{"client-id", cfg.ClientID}, {"redirect-uri", cfg.RedirectURI}}
		if cfg.PID == 0 {
			problems = append(problems, "--pid is required for scenario abuse")
		}
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
	if *scenario == scenarioAbuse {
		return runAbuse(ctx, gen, abuse, *maxRSS, *asJSON, stdout, stderr)
	}
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

// scenarioAbuse names the abuse scenario (loadgen.Generator.Abuse).
const scenarioAbuse = "abuse"

// runAbuse runs the abuse scenario and fails when a step's peak RSS exceeds maxMB (0: no
// bound) or a step had errors.
func runAbuse(ctx context.Context, gen *loadgen.Generator, o loadgen.AbuseOptions, maxMB int64, asJSON bool, stdout, stderr io.Writer) error {
	steps, err := gen.Abuse(ctx, o)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(map[string]any{"abuse": steps}); jerr != nil {
			return jerr
		}
	} else if werr := loadgen.WriteAbuseTable(stdout, steps); werr != nil {
		return werr
	}
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse loadtest:", err)
		return exitError{"loadtest"}
	}
	for _, s := range steps {
		if maxMB > 0 && s.PeakRSS > maxMB<<20 {
			fmt.Fprintf(stderr, "gatehouse loadtest: step %s: server RSS peaked at %.1f MB, above --max-rss %d MB\n", s.Name, float64(s.PeakRSS)/(1<<20), maxMB)
			return exitError{"memory bound exceeded"}
		}
		if s.Errors > 0 {
			fmt.Fprintf(stderr, "gatehouse loadtest: step %s: %d errors, first: %s\n", s.Name, s.Errors, s.FirstError)
			return exitError{"errors under abuse"}
		}
	}
	return nil
}
