package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors/local"
)

// cmdCheckConfig validates a configuration file without serving.
func cmdCheckConfig(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	cfgFlag := fs.String("config", "", "configuration file (YAML); the same as giving FILE")
	if err := parseFlags(ctx, fs, args, checkConfigUsage, stdout, stderr); err != nil {
		return err
	}
	path, err := checkConfigPath(*cfgFlag, fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse check-config: %v\n\n", err)
		printUsage(stderr, fs, checkConfigUsage)
		return exitError{"usage"}
	}
	cfg, warnings, err := checkConfig(ctx, path, getenv)
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	if err != nil {
		reportConfigErrors(stderr, path, err)
		return exitError{"invalid config"}
	}
	fmt.Fprintf(stdout, "%s: configuration is valid (%d clients, %d connectors, %d users)\n", path, len(cfg.Clients), len(cfg.Connectors), len(cfg.Users))
	return nil
}

const checkConfigUsage = `Usage: gatehouse check-config FILE
       gatehouse check-config --config FILE

Validates a configuration file without serving and without side effects: strict keys, every
connector block, the claims rules and claims_tests. Lists every problem with file:line and
prints warnings for what loads but cannot work. Exit status 0 when the configuration is valid.`

// checkConfigPath is the file check-config checks: --config or the one positional argument
// (both may be given when they agree).
func checkConfigPath(flagPath string, args []string) (string, error) {
	switch {
	case len(args) > 1:
		return "", fmt.Errorf("one configuration file, got %d arguments", len(args))
	case len(args) == 1 && flagPath != "" && args[0] != flagPath:
		return "", fmt.Errorf("--config %s and FILE %s disagree: give one", flagPath, args[0])
	case len(args) == 1:
		return args[0], nil
	case flagPath != "":
		return flagPath, nil
	}
	return "", errors.New("no configuration file given")
}

// joinConfigErrors merges two results whose problems are *config.Errors (either may be nil).
func joinConfigErrors(a, b error) error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	var ca, cb *config.Errors
	if errors.As(a, &ca) && errors.As(b, &cb) {
		return &config.Errors{Problems: append(append([]*config.Problem{}, ca.Problems...), cb.Problems...)}
	}
	return errors.Join(a, b)
}

// loadConfig parses, defaults and validates a config file.
func loadConfig(path string, getenv func(string) string) (*config.Config, error) {
	cfg, err := config.Load(path, getenv)
	if err != nil {
		return nil, err
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// reportConfigErrors prints every problem, one per line.
func reportConfigErrors(w io.Writer, path string, err error) {
	var ce *config.Errors
	if errors.As(err, &ce) {
		fmt.Fprintf(w, "%s: %d problem(s):\n", path, len(ce.Problems))
		for _, p := range ce.Problems {
			fmt.Fprintf(w, "  %s\n", p.Error())
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", path, err)
}

const hashPasswordUsage = `Usage: gatehouse hash-password [--cost N]

Prints the bcrypt hash of a password, for users[].password_hash. On a terminal it asks for
the password twice without echoing it; otherwise it reads one line from stdin
(gatehouse hash-password < file).`

// cmdHashPassword prints the bcrypt hash, at --cost (default local.DefaultCost; match the
// local connector's cost key), of a password prompted without echo on a terminal or read as
// one line from stdin.
func cmdHashPassword(ctx context.Context, args []string, _ func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	cost := fs.Int("cost", local.DefaultCost, "bcrypt cost (the local connector's cost)")
	if err := parseFlags(ctx, fs, args, hashPasswordUsage, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "gatehouse hash-password: unexpected argument %q (the password is prompted for or read from stdin, never an argument)\n", fs.Arg(0))
		return exitError{"usage"}
	}
	if err := (&local.Config{Cost: *cost}).Validate(); err != nil {
		fmt.Fprintf(stderr, "gatehouse: hash-password: %v\n", err)
		return exitError{"bad cost"}
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: hash-password: %v\n", err)
		return exitError{"no password"}
	}
	h, err := local.HashPassword(pw, *cost)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}

// readPassword reads a password (hash-password, the admin user commands): from a terminal, twice and without echo (the
// prompts on stderr); otherwise one line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		ask := func(prompt string) (string, error) {
			fmt.Fprint(stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(stderr)
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			return string(b), nil
		}
		pw, err := ask("Password: ")
		if err != nil || pw == "" {
			return "", errors.Join(err, errEmptyPassword(err))
		}
		again, err := ask("Password (again): ")
		if err != nil {
			return "", err
		}
		if subtle.ConstantTimeCompare([]byte(pw), []byte(again)) != 1 {
			return "", errors.New("the two passwords differ; nothing was done")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("the password is empty (give it on stdin, one line, e.g. `< password-file`)")
	}
	return pw, nil
}

// errEmptyPassword is the error for an empty password typed at the prompt (nil when reading
// failed: that error says enough).
func errEmptyPassword(readErr error) error {
	if readErr != nil {
		return nil
	}
	return errors.New("the password is empty")
}
