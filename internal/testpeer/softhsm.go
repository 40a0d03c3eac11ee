//go:build peers && pkcs11

package testpeer

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SoftHSMModule is where Debian's softhsm2 package installs the PKCS#11 library.
const SoftHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// SoftHSM is a SoftHSM2 token initialized for one test.
type SoftHSM struct {
	// Module is the PKCS#11 library; TokenLabel the token's label.
	Module, TokenLabel string
	// PIN is the user PIN, in PINFile too; Dir holds the configuration and the token files.
	PIN, PINFile, Dir string
}

// NewSoftHSM gives the test a private SoftHSM2: a SOFTHSM2_CONF in a temporary directory
// (set in the environment for the test, so the library reads it when it is initialized)
// and one token initialized with softhsm2-util. It fails the test when softhsm2 is not
// installed (scripts/install-peers.sh installs it). Tests using it must not run in
// parallel: the library reads SOFTHSM2_CONF once per process until it is finalized.
func NewSoftHSM(t testing.TB, label string) *SoftHSM {
	t.Helper()
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Fatalf("softhsm2 is not installed (scripts/install-peers.sh installs it): %v", err)
	}
	if _, err := os.Stat(SoftHSMModule); err != nil {
		t.Fatalf("softhsm2 is not installed (scripts/install-peers.sh installs it): %v", err)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	h := &SoftHSM{Module: SoftHSMModule, TokenLabel: label, PIN: "4711-" + label, Dir: dir, PINFile: filepath.Join(dir, "pin")}
	if err := os.WriteFile(h.PINFile, []byte(h.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", h.PIN, "--so-pin", "so-"+h.PIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return h
}
