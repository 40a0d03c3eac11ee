package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// cmdEnv is what every command gets besides its arguments: the environment and the three
// standard streams.
type cmdEnv struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one entry of the command table: its name, what the top help says about it, and
// the function that runs it. A command with subcommands lists them; `gatehouse NAME --help`
// and `gatehouse NAME SUB --help` both print usage and exit 0.
type command struct {
	name     string
	synopsis string // arguments, shown after the name in the top help
	summary  string
	subs     []subcommand
	run      func(ctx context.Context, e cmdEnv, args []string) error
}

// subcommand is one subcommand of a command, for the top help.
type subcommand struct{ name, synopsis, summary string }

// commands is the command table: run dispatches on it and the top help lists it. Add a
// command with one entry here (its function in a file of its own).
func commands() []command {
	return []command{
		{name: "serve", synopsis: "[--config FILE] [--listen ADDR]", summary: "run the broker; with no config, a self-contained default on http://127.0.0.1:5556 (or --listen / $GATEHOUSE_LISTEN)", run: std(cmdServe)},
		{name: "check-config", synopsis: "FILE | --config FILE", summary: "validate a configuration file; lists every problem and warning", run: std(cmdCheckConfig)},
		{name: "hash-password", synopsis: "[--cost N]", summary: "print the bcrypt hash of a password (prompted on a terminal, else read from stdin)", run: withStdin(cmdHashPassword)},
		{name: "version", summary: "print the version, the commit and the Go version", run: std(cmdVersion)},
		{name: "loadtest", synopsis: "--issuer URL [flags] | seed [--config FILE] --users N", summary: "drive load against a running broker; seed: fill a store with N realistic users first", run: std(cmdLoadtest)},
		{name: "backup", synopsis: "[--config FILE] --to FILE", summary: "consistent online snapshot of the SQLite store (PostgreSQL: pg_dump)", run: std(cmdBackup)},
		{name: "restore", synopsis: "[--config FILE] --from FILE", summary: "check a backup (integrity, schema, seal keys), then put it in place", run: std(cmdRestore)},
		{name: "secrets", run: std(cmdSecrets), subs: []subcommand{
			{"rotate", "[--config FILE] [--batch N]", "reseal every secret at rest under the first of secrets.keys, online"},
			{"new-key", "FILE", "write a new random seal key (0600)"},
		}},
		{name: "mfa", run: std(cmdMFA), subs: []subcommand{{"reset", "[--config FILE] --user USER", "delete a user's second factors so they enrol again"}}},
		{name: "claims", run: withStdin(cmdClaims), subs: []subcommand{{"explain", "--config FILE --connector ID --input FILE|-", "show what the claims rules make of an upstream identity; exit 1 when denied"}}},
		{name: "healthcheck", synopsis: "[--url URL | --config FILE]", summary: "exit 0 when the broker answers ready (a container HEALTHCHECK)", run: std(cmdHealthcheck)},
		{name: "import", run: withStdin(cmdImport), subs: []subcommand{{"dex", "--config dex.yaml > gatehouse.yaml", "convert a Dex configuration into a Gatehouse one, with a comment wherever they differ"}}},
		{name: "audit", synopsis: "[--config FILE] [--user U] [--since 1h] [--json]", summary: "print the audit trail", run: std(cmdAudit)},
		{name: "client", run: std(cmdClient), subs: []subcommand{
			{"create", "--id ID [--redirect-uri U]... [flags]", "create a client through the admin API; prints its secret once"},
			{"get", "ID", "one client"}, {"list", "", "every client (configured ones are read-only)"},
			{"update", "ID [flags of create]", "replace the fields whose flags are given"},
			{"rotate-secret", "ID", "a new secret; the old one stops working at once"},
			{"delete", "ID", "delete the client and revoke every token issued to it"},
			{"registration-token", "create [--expires 1h] [--uses 1] | list | delete ID", "initial access tokens for Dynamic Client Registration"},
		}},
		{name: "sp", run: withStdin(cmdSP), subs: []subcommand{
			{"create", "--id ID (--metadata FILE | --metadata-url URL | --entity-id E --acs-url U) [flags]", "register a SAML service provider through the admin API"},
			{"get", "ID", "one service provider"}, {"list", "", "every service provider (configured ones are read-only)"},
			{"update", "ID [--version N] [flags of create]", "replace the fields whose flags are given, if the SP is still at that version"},
			{"delete", "ID", "delete the service provider and the consents given to it"},
		}},
		{name: "user", run: withStdin(cmdUser), subs: []subcommand{
			{"create", "--username U [flags] < password", "create a local user"},
			{"set-password", "USERNAME < password", "set a local user's password (enables a disabled user)"},
			{"disable", "USERNAME", "refuse the user's logins and sign them out everywhere"},
			{"delete", "USERNAME", "delete the user with their sessions, tokens, consents and factors"},
			{"list", "", "every local user"},
		}},
		{name: "session", run: withStdin(cmdSession), subs: []subcommand{
			{"list", "--user U | --subject SUB", "a user's SSO sessions"}, {"revoke", "ID", "end one session"},
			{"revoke-all", "--user U | --subject SUB", "sign the user out everywhere (sessions and grants)"},
		}},
		{name: "consent", run: withStdin(cmdConsent), subs: []subcommand{
			{"list", "--user U | --subject SUB", "a user's consents"},
			{"revoke", "--user U --client C", "delete a consent and revoke the client's tokens"},
		}},
		{name: "key", run: withStdin(cmdKey), subs: []subcommand{
			{"list", "", "the signing keys"}, {"rotate", "", "publish a new signing key now"},
		}},
	}
}

// std adapts a command of the common signature to the table.
func std(f func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error) func(context.Context, cmdEnv, []string) error {
	return func(ctx context.Context, e cmdEnv, args []string) error {
		return f(ctx, args, e.getenv, e.stdout, e.stderr)
	}
}

// withStdin adapts a command that reads stdin to the table.
func withStdin(f func(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error) func(context.Context, cmdEnv, []string) error {
	return func(ctx context.Context, e cmdEnv, args []string) error {
		return f(ctx, args, e.getenv, e.stdin, e.stdout, e.stderr)
	}
}

// topUsage is the top help, generated from the command table so that it lists every command
// and subcommand.
func topUsage() string {
	var b strings.Builder
	b.WriteString("Usage: gatehouse <command> [flags]\n       gatehouse <command> --help   (every command and subcommand)\n\nCommands:\n")
	line := func(name, synopsis, summary string) {
		fmt.Fprintf(&b, "  %s", name)
		if synopsis != "" {
			fmt.Fprintf(&b, " %s", synopsis)
		}
		fmt.Fprintf(&b, "\n      %s\n", summary)
	}
	for _, c := range commands() {
		if len(c.subs) == 0 {
			line(c.name, c.synopsis, c.summary)
		}
		for _, s := range c.subs {
			line(c.name+" "+s.name, s.synopsis, s.summary)
		}
	}
	b.WriteString("  help\n      print this help\n")
	return b.String()
}

// groupUsage is the help of a command with subcommands.
func groupUsage(name string) string {
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Usage: gatehouse %s <subcommand> [flags]\n\nSubcommands:\n", name)
		for _, s := range c.subs {
			fmt.Fprintf(&b, "  %s %s\n      %s\n", s.name, s.synopsis, s.summary)
		}
		fmt.Fprintf(&b, "\ngatehouse %s <subcommand> --help prints a subcommand's flags.\n", name)
		return b.String()
	}
	return ""
}

// isHelpArg reports whether a is a request for help.
func isHelpArg(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }

// subcommandHelp handles `gatehouse NAME` and `gatehouse NAME --help` for a command with
// subcommands: the group's usage on stdout (exit 0) when asked for, on stderr (exit 1)
// when no subcommand was given or it is unknown. handled is false when args name a
// subcommand, which the caller then runs.
func subcommandHelp(name string, args []string, known []string, stdout, stderr io.Writer) (handled bool, err error) {
	if len(args) > 0 && isHelpArg(args[0]) {
		fmt.Fprint(stdout, groupUsage(name))
		return true, helpShown{}
	}
	if len(args) > 0 {
		for _, k := range known {
			if args[0] == k {
				return false, nil
			}
		}
		fmt.Fprintf(stderr, "gatehouse %s: unknown subcommand %q\n\n", name, args[0])
	}
	fmt.Fprint(stderr, groupUsage(name))
	return true, exitError{"usage"}
}

// helpShown is returned by a command that printed its help on request: run exits 0.
type helpShown struct{}

func (helpShown) Error() string { return "help shown" }

// flagSetsKey is the context key under which a test collects the flag sets the commands
// parse (help_test.go checks that --help prints every flag).
type flagSetsKey struct{}

// parseFlags parses a command's args with fs. usage is the command's description, starting
// "Usage: gatehouse ..."; -h/--help prints it and every flag on stdout and returns
// helpShown (exit 0). A bad flag is reported on stderr with the usage (exit 1).
func parseFlags(ctx context.Context, fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) error {
	return parseWith(ctx, fs, usage, stdout, stderr, func() error { return fs.Parse(args) })
}

// parseWith runs parse (fs.Parse, or a parse that lets flags follow positional arguments)
// the way every command parses its flags: fs is registered for the help test, -h/--help
// prints usage and every flag on stdout (helpShown), a bad flag is an exitError.
func parseWith(ctx context.Context, fs *flag.FlagSet, usage string, stdout, stderr io.Writer, parse func() error) error {
	if p, ok := ctx.Value(flagSetsKey{}).(*[]*flag.FlagSet); ok {
		*p = append(*p, fs)
	}
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(stderr, fs, usage) }
	if err := parse(); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fs, usage)
			return helpShown{}
		}
		return exitError{"bad flags"}
	}
	return nil
}

// printUsage prints usage and, when fs has flags, every flag with its default.
func printUsage(w io.Writer, fs *flag.FlagSet, usage string) {
	fmt.Fprintln(w, strings.TrimRight(usage, "\n"))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "\nFlags:")
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
}
