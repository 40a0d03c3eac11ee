package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/gatehouse-id/gatehouse/internal/dexconfig"
)

const importDexUsage = `Usage: gatehouse import dex --config dex.yaml > gatehouse.yaml

Converts a Dex configuration (issuer, web, storage sqlite3/postgres, staticClients,
staticPasswords, connectors ldap/saml/oidc/github/gitlab/google/microsoft/oauth) into a
Gatehouse one on stdout. A comment starting "dex:" marks every place where Gatehouse behaves
differently or a Dex setting has no equivalent. Nothing is read but the file, nothing is
written but stdout. Check the result with gatehouse check-config; docs/migrating-from-dex.md
says what changes for apps, operators and users.`

// cmdImport implements `gatehouse import dex`.
func cmdImport(ctx context.Context, args []string, _ func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if handled, err := subcommandHelp("import", args, []string{"dex"}, stdout, stderr); handled {
		return err
	}
	fs := flag.NewFlagSet("import dex", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "the Dex configuration file (YAML), or - for stdin")
	if err := parseFlags(ctx, fs, args[1:], importDexUsage, stdout, stderr); err != nil {
		return err
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		printUsage(stderr, fs, importDexUsage)
		return exitError{"usage"}
	}
	data, err := readInput(*cfgPath, stdin)
	if err != nil {
		return fmt.Errorf("import dex: %w", err)
	}
	out, err := dexconfig.Convert(data)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse import dex: %s: %v\n", *cfgPath, err)
		return exitError{"cannot convert"}
	}
	_, err = stdout.Write(out)
	return err
}
