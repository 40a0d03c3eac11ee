// Command gatehouse is the Gatehouse federation broker: an OpenID Connect provider in front of
// LDAP, SAML, OIDC/OAuth2 and local password upstreams.
//
//	gatehouse serve [--config FILE]   run the broker (no config: a self-contained default)
//	gatehouse check-config FILE       validate a configuration file and list every problem
//	gatehouse hash-password           read a password on stdin, print its bcrypt hash
//	gatehouse version                 print the version
//	gatehouse loadtest --issuer URL   drive load against a running broker
//	gatehouse backup --to FILE        snapshot the SQLite store (PostgreSQL: pg_dump)
//	gatehouse healthcheck [--url URL]  exit 0 when the broker answers ready (container HEALTHCHECK)
//
// This package and internal/assembly (which serve calls to build the broker) are the only
// places that wire Gatehouse's packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		var ex exitError
		if !errors.As(err, &ex) {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(1)
	}
}

// exitError is an error already reported to the user; main only sets the exit status.
type exitError struct{ msg string }

func (e exitError) Error() string { return e.msg }

const usage = `Usage: gatehouse <command> [flags]

Commands:
  serve [--config FILE]     run the broker; with no config, a self-contained default on
                            http://127.0.0.1:5556 (SQLite in the working directory)
  check-config FILE         validate a configuration file; lists every problem
  hash-password             read a password on stdin and print its bcrypt hash
  version                   print the version
  loadtest --issuer URL     drive load against a running broker (see --help)
  backup --to FILE          consistent online snapshot of the SQLite store (PostgreSQL: pg_dump)
  restore --from FILE       check a backup (integrity, schema, seal keys), then put it in place
  secrets rotate            reseal every secret at rest under the first of secrets.keys, online
  secrets new-key FILE      write a new random seal key (0600)
  mfa reset --user USER     delete a user's second factors so they enrol again
  healthcheck [--url URL | --config FILE]
                            exit 0 when the broker answers ready (a container HEALTHCHECK)
  audit [--user U] [--since 1h] [--json]   print the audit trail
  client create|get|list|update|rotate-secret|delete
                            manage clients through the admin API (see gatehouse client help)
  user create|set-password|disable|delete|list      local users, through the admin API
  session list|revoke|revoke-all                    users' SSO sessions
  consent list|revoke                               users' consents
  key list|rotate                                   the signing keys
`

// run is main without globals, for tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{"no command"}
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], getenv, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(ctx, args[1:], getenv, stdout, stderr)
	case "hash-password":
		return cmdHashPassword(args[1:], stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "gatehouse", version())
		return nil
	case "backup":
		return cmdBackup(ctx, args[1:], getenv, stdout, stderr)
	case "restore":
		return cmdRestore(ctx, args[1:], getenv, stdout, stderr)
	case "secrets":
		return cmdSecrets(ctx, args[1:], getenv, stdout, stderr)
	case "claims":
		return cmdClaims(ctx, args[1:], getenv, stdout, stderr)
	case "mfa":
		return cmdMFA(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		return cmdAudit(ctx, args[1:], getenv, stdout, stderr)
	case "loadtest":
		return cmdLoadtest(ctx, args[1:], stdout, stderr)
	case "client":
		return cmdClient(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		return cmdUser(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "session":
		return cmdSession(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "consent":
		return cmdConsent(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "key":
		return cmdKey(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n%s", args[0], usage)
	return exitError{"unknown command"}
}

// version reports the module version and VCS revision the binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}
