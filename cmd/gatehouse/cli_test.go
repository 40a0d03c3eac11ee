package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEveryCommandHelp runs --help and -h on every command and subcommand of the command
// table (so a command added later is covered without touching this test): each exits 0 and
// prints its usage on stdout with every flag its flag set defines.
func TestEveryCommandHelp(t *testing.T) {
	type invocation struct {
		args []string
		leaf bool // a command that parses flags (not a group listing its subcommands)
		subs []subcommand
	}
	var cases []invocation
	for _, c := range commands() {
		for _, h := range []string{"--help", "-h"} {
			if len(c.subs) == 0 {
				cases = append(cases, invocation{args: []string{c.name, h}, leaf: true})
				continue
			}
			cases = append(cases, invocation{args: []string{c.name, h}, subs: c.subs})
			for _, s := range c.subs {
				cases = append(cases, invocation{args: []string{c.name, s.name, h}, leaf: true})
			}
		}
	}
	if len(cases) < 20 {
		t.Fatalf("only %d help invocations: is the command table empty?", len(cases))
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var sets []*flag.FlagSet
			ctx := context.WithValue(t.Context(), flagSetsKey{}, &sets)
			var out, errb bytes.Buffer
			if err := run(ctx, tc.args, func(string) string { return "" }, strings.NewReader(""), &out, &errb); err != nil {
				t.Fatalf("exit status not 0: %v\nstderr: %s", err, errb.String())
			}
			help := out.String()
			if !strings.HasPrefix(help, "Usage: gatehouse "+tc.args[0]) {
				t.Fatalf("stdout does not start with the usage:\n%s", help)
			}
			for _, s := range tc.subs {
				if !strings.Contains(help, "  "+s.name+" ") {
					t.Errorf("group help does not list subcommand %q:\n%s", s.name, help)
				}
			}
			if !tc.leaf {
				return
			}
			if len(sets) == 0 {
				t.Fatal("the command did not parse its flags with parseFlags: its help cannot be checked for every flag")
			}
			for _, fs := range sets {
				fs.VisitAll(func(f *flag.Flag) {
					if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(f.Name) + `(\s|$)`).MatchString(help) {
						t.Errorf("help does not list flag -%s:\n%s", f.Name, help)
					}
				})
			}
		})
	}
}

// TestTopHelpListsEveryCommand: `gatehouse help`, `-h` and `--help` list every command and
// subcommand of the table (claims explain included) and exit 0; no command and an unknown
// command print it on stderr and fail.
func TestTopHelpListsEveryCommand(t *testing.T) {
	for _, arg := range []string{"help", "-h", "--help"} {
		var out, errb bytes.Buffer
		if err := run(t.Context(), []string{arg}, nil, strings.NewReader(""), &out, &errb); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		help := out.String()
		for _, c := range commands() {
			names := []string{c.name}
			if len(c.subs) > 0 {
				names = nil
				for _, s := range c.subs {
					names = append(names, c.name+" "+s.name)
				}
			}
			for _, n := range names {
				if !strings.Contains(help, "\n  "+n+" ") && !strings.Contains(help, "\n  "+n+"\n") {
					t.Errorf("%s: top help does not list %q", arg, n)
				}
			}
		}
		if !strings.Contains(help, "claims explain") {
			t.Errorf("top help does not list claims explain")
		}
	}
	for _, args := range [][]string{nil, {"no-such-command"}, {"claims"}, {"claims", "nonsense"}, {"secrets"}, {"mfa"}} {
		var out, errb bytes.Buffer
		if err := run(t.Context(), args, nil, strings.NewReader(""), &out, &errb); err == nil {
			t.Errorf("%q: exit status 0", args)
		}
		if !strings.Contains(errb.String(), "Usage: gatehouse") {
			t.Errorf("%q: no usage on stderr: %s", args, errb.String())
		}
	}
}

// TestCheckConfigTakesConfigFlag: check-config takes the file as its argument or as
// --config (both when they agree), and refuses none, two, or two that disagree.
func TestCheckConfigTakesConfigFlag(t *testing.T) {
	dir := t.TempDir()
	good := dir + "/good.yaml"
	if err := os.WriteFile(good, []byte("connectors:\n  - type: local\n    id: local\n    name: Local\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"positional", []string{good}, true},
		{"flag", []string{"--config", good}, true},
		{"flag=", []string{"--config=" + good}, true},
		{"both agree", []string{"--config", good, good}, true},
		{"both disagree", []string{"--config", good, dir + "/other.yaml"}, false},
		{"none", nil, false},
		{"two files", []string{good, good}, false},
		{"missing file", []string{"--config", dir + "/missing.yaml"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(t.Context(), append([]string{"check-config"}, tt.args...), nil, strings.NewReader(""), &out, &errb)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v\nstdout: %s\nstderr: %s", err, tt.ok, out.String(), errb.String())
			}
			if tt.ok && !strings.Contains(out.String(), "configuration is valid") {
				t.Errorf("stdout: %s", out.String())
			}
		})
	}
}

// TestVersionPrintsEachOnce: version prints the version, the commit and the Go version,
// each exactly once.
func TestVersionPrintsEachOnce(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"version"}, nil, strings.NewReader(""), &out, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"gatehouse ", "commit ", runtime.Version()} {
		if n := strings.Count(got, want); n != 1 {
			t.Errorf("%q appears %d times in:\n%s", want, n, got)
		}
	}
	var b bytes.Buffer
	printVersion(&b, buildInfo{Version: "v1.2.3", Commit: "e2e5194abcdef0123456789", Time: "2026-12-06T07:00:00Z", Modified: true, Go: "go1.26.8"})
	for _, want := range []string{"gatehouse v1.2.3\n", "commit    e2e5194abcdef0123456789 (2026-12-06T07:00:00Z, with uncommitted changes)\n", "go        go1.26.8 "} {
		if strings.Count(b.String(), want) != 1 {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}

func TestStripPseudoCommit(t *testing.T) {
	tests := []struct{ v, commit, want string }{
		{"v0.0.0-20261206071200-e2e5194abcde", "e2e5194abcde0123456789", "v0.0.0-20261206071200"},
		{"v0.0.0-20261206071200-e2e5194abcde+dirty", "e2e5194abcde0123456789", "v0.0.0-20261206071200+dirty"},
		{"v1.2.3", "e2e5194abcde0123456789", "v1.2.3"},
		{"v1.2.3-rc.1", "e2e5194abcde0123456789", "v1.2.3-rc.1"},
		{"v0.0.0-20261206071200-aaaaaaaaaaaa", "e2e5194abcde0123456789", "v0.0.0-20261206071200-aaaaaaaaaaaa"},
		{"(devel)", "", "(devel)"},
	}
	for _, tt := range tests {
		if got := stripPseudoCommit(tt.v, tt.commit); got != tt.want {
			t.Errorf("stripPseudoCommit(%q, %q) = %q, want %q", tt.v, tt.commit, got, tt.want)
		}
	}
}

// TestHashPasswordStdin: without a terminal, hash-password reads one line of stdin; an empty
// one and an argument are refused.
func TestHashPasswordStdin(t *testing.T) {
	tests := []struct {
		name, stdin string
		args        []string
		ok          bool
	}{
		{"line", "correct horse\n", nil, true},
		{"no newline", "correct horse", nil, true},
		{"crlf", "correct horse\r\n", nil, true},
		{"empty", "\n", nil, false},
		{"argument", "x\n", []string{"correct horse"}, false},
		{"bad cost", "x\n", []string{"--cost", "3"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"hash-password", "--cost", "4"}, tt.args...)
			err := run(t.Context(), args, nil, strings.NewReader(tt.stdin), &out, &errb)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v; stderr: %s", err, tt.ok, errb.String())
			}
			if tt.ok && !strings.HasPrefix(out.String(), "$2") {
				t.Errorf("stdout is not a bcrypt hash: %q", out.String())
			}
			if strings.Contains(errb.String(), "Password:") {
				t.Errorf("prompted although stdin is not a terminal: %q", errb.String())
			}
		})
	}
}

// openPTY opens a pseudo-terminal pair (Linux).
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pts: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitEchoOff waits until the terminal's echo is off (the command is reading a password).
func waitEchoOff(t *testing.T, tty *os.File) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatalf("tcgetattr: %v", err)
		}
		if st.Lflag&unix.ECHO == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("echo was never turned off: the password would show on the terminal")
}

// TestHashPasswordTerminalNoEcho: on a terminal (a real pseudo-terminal), hash-password asks
// twice with echo off, so the password never shows; two different answers hash nothing.
func TestHashPasswordTerminalNoEcho(t *testing.T) {
	for _, tt := range []struct {
		name, first, second string
		ok                  bool
	}{
		{"match", "pty-secret-1", "pty-secret-1", true},
		{"differ", "pty-secret-1", "pty-secret-2", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			master, tty := openPTY(t)
			var out, errb syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- run(context.Background(), []string{"hash-password", "--cost", "4"}, nil, tty, &out, &errb)
			}()
			for i, answer := range []string{tt.first, tt.second} {
				prompt := []string{"Password: ", "Password (again): "}[i]
				deadline := time.Now().Add(5 * time.Second)
				for !strings.Contains(errb.String(), prompt) && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				waitEchoOff(t, tty) // after the prompt is printed, echo goes off before the read
				if _, err := master.WriteString(answer + "\n"); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("hash-password did not finish")
			}
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v; stderr: %s", err, tt.ok, errb.String())
			}
			if !strings.Contains(errb.String(), "Password: ") || !strings.Contains(errb.String(), "Password (again): ") {
				t.Errorf("prompts missing: %q", errb.String())
			}
			if tt.ok != strings.HasPrefix(out.String(), "$2") {
				t.Errorf("stdout = %q", out.String())
			}
			// What the terminal displayed: the master side reads the echo, if any.
			var shown []byte
			for {
				fds := []unix.PollFd{{Fd: int32(master.Fd()), Events: unix.POLLIN}}
				if n, err := unix.Poll(fds, 200); err != nil || n == 0 {
					break
				}
				buf := make([]byte, 4096)
				n, err := unix.Read(int(master.Fd()), buf)
				if err != nil || n <= 0 {
					break
				}
				shown = append(shown, buf[:n]...)
			}
			if bytes.Contains(shown, []byte("pty-secret")) {
				t.Errorf("the password was echoed on the terminal: %q", shown)
			}
		})
	}
}
