package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// buildInfo is what the binary knows about its build.
type buildInfo struct {
	// Version is the module version ("(devel)" for a build from a checkout), without the
	// commit that a pseudo-version repeats.
	Version string
	// Commit is the VCS revision ("" when the build did not record it), Modified whether the
	// working tree had changes, Time the commit time.
	Commit, Time string
	Modified     bool
	// Go is the Go version the binary was built with.
	Go string
}

// readBuildInfo reads the build's version, commit and Go version.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: "unknown", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Version = bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	b.Version = stripPseudoCommit(b.Version, b.Commit)
	return b
}

// stripPseudoCommit removes the commit a pseudo-version ends with
// (v0.0.0-20261206071200-e2e5194abcde[+dirty]) when the commit is printed on its own line.
func stripPseudoCommit(v, commit string) string {
	if commit == "" {
		return v
	}
	base, suffix, _ := strings.Cut(v, "+")
	i := strings.LastIndexByte(base, '-')
	if i < 0 || len(base)-i-1 < 12 || !strings.HasPrefix(commit, base[i+1:]) {
		return v
	}
	base = base[:i]
	if suffix != "" {
		base += "+" + suffix
	}
	return base
}

// version is the one-line version for logs and metrics: the version and the short commit.
func version() string {
	b := readBuildInfo()
	if len(b.Commit) >= 12 {
		return b.Version + " (" + b.Commit[:12] + ")"
	}
	return b.Version
}

// cmdVersion prints the version, the commit and the Go version, each once.
func cmdVersion(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := parseFlags(ctx, fs, args, "Usage: gatehouse version\n\nPrints the version, the commit it was built from and the Go version.", stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatehouse version: unexpected argument %q\n", fs.Arg(0))
		return exitError{"usage"}
	}
	printVersion(stdout, readBuildInfo())
	return nil
}

// printVersion prints b in three lines.
func printVersion(w io.Writer, b buildInfo) {
	commit := b.Commit
	if commit == "" {
		commit = "unknown (built without VCS information)"
	}
	var notes []string
	if b.Time != "" {
		notes = append(notes, b.Time)
	}
	if b.Modified {
		notes = append(notes, "with uncommitted changes")
	}
	if len(notes) > 0 {
		commit += " (" + strings.Join(notes, ", ") + ")"
	}
	fmt.Fprintf(w, "gatehouse %s\ncommit    %s\ngo        %s %s/%s\n", b.Version, commit, b.Go, runtime.GOOS, runtime.GOARCH)
}
