package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
)

// cmdCheckConfig validates a configuration file without serving.
func cmdCheckConfig(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return exitError{"bad flags"}
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: gatehouse check-config FILE")
		return exitError{"usage"}
	}
	path := fs.Arg(0)
	cfg, err := loadConfig(path, getenv)
	if err == nil {
		var decoded []assembly.DecodedConnector
		decoded, err = assembly.DecodeConnectors(cfg, path, getenv, newRegistry(nil))
		for _, w := range append(assembly.CheapHashWarnings(cfg, decoded), cfg.Warnings()...) {
			fmt.Fprintln(stderr, w)
		}
		// Claims rules (CEL expressions, patterns, scopes) and claims_tests, reported with the rest.
		err = joinConfigErrors(err, claims.Check(ctx, cfg))
	}
	if err != nil {
		reportConfigErrors(stderr, path, err)
		return exitError{"invalid config"}
	}
	fmt.Fprintf(stdout, "%s: configuration is valid (%d clients, %d connectors, %d users)\n", path, len(cfg.Clients), len(cfg.Connectors), len(cfg.Users))
	return nil
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

// cmdHashPassword reads one password line from stdin and prints its bcrypt hash at -cost
// (default local.DefaultCost; match the local connector's cost key).
func cmdHashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cost := fs.Int("cost", local.DefaultCost, "bcrypt cost (the local connector's cost)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: gatehouse hash-password [-cost N] < password-file")
		return exitError{"usage"}
	}
	if err := (&local.Config{Cost: *cost}).Validate(); err != nil {
		fmt.Fprintf(stderr, "gatehouse: hash-password: %v\n", err)
		return exitError{"bad cost"}
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		fmt.Fprintln(stderr, "gatehouse: hash-password: the password is empty (type it on stdin, e.g. `gatehouse hash-password < file`)")
		return exitError{"empty password"}
	}
	h, err := local.HashPassword(pw, *cost)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}
