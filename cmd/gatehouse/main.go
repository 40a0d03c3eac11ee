// Command gatehouse is the Gatehouse federation broker: an OpenID Connect provider in front of
// LDAP, SAML, OIDC/OAuth2 and local password upstreams.
//
//	gatehouse serve [--config FILE]   run the broker (no config: a self-contained default)
//	gatehouse check-config FILE       validate a configuration file and list every problem
//	gatehouse help                    list every command (cli.go holds the command table)
//	gatehouse COMMAND --help          a command's usage and flags
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

// run is main without globals, for tests: it dispatches on the command table (cli.go).
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage())
		return exitError{"no command"}
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, topUsage())
		return nil
	case "--version":
		args = []string{"version"}
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, cmdEnv{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}, args[1:])
		if errors.As(err, new(helpShown)) {
			return nil
		}
		return err
	}
	fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n%s", args[0], topUsage())
	return exitError{"unknown command"}
}
