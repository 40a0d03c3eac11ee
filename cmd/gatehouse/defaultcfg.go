package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/config"
)

// listenEnv names the environment variable that moves the built-in default's listener (and
// its issuer), like serve --listen.
const listenEnv = "GATEHOUSE_LISTEN"

// defaultConfig is what `gatehouse serve` runs with no config file: loopback, SQLite in the
// working directory, the local connector, and the example relying party.
func defaultConfig() *config.Config {
	cfg := &config.Config{
		Connectors: []config.ConnectorBlock{{Type: "local", ID: "local", Name: defaultConnectorName}},
		Example:    config.ExampleClient{Enabled: true},
	}
	cfg.ApplyDefaults()
	return cfg
}

// defaultConnectorName is the default configuration's local connector's name: it says what
// the connector takes (login_with defaults to username and email).
const defaultConnectorName = "Username or email and password"

// defaultConfigAt is the built-in default listening on listen (host:port, a loopback host)
// with the issuer following: http://listen. An empty listen keeps 127.0.0.1:5556.
func defaultConfigAt(listen string) (*config.Config, error) {
	cfg := defaultConfig()
	if listen == "" {
		return cfg, nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("%q is not host:port, e.g. 127.0.0.1:8080", listen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("%q: the port must be 1-65535 (the issuer URL names it)", listen)
	}
	if !isLoopback(host) {
		return nil, fmt.Errorf("%q: the built-in default serves plain http, so only on a loopback address "+
			"(127.0.0.1, ::1, localhost); anything else needs a configuration file with https", listen)
	}
	cfg.Web.HTTP = listen
	cfg.Issuer = "http://" + net.JoinHostPort(host, port)
	return cfg, nil
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// storageSections are the configuration sections a command that only opens the store reads
// (the seal keys are in secrets).
var storageSections = []string{"storage", "secrets", "logging"}

// storageConfig loads only what opening the store needs (storage, secrets, logging, and the
// extra sections named) from path, or the built-in default when path is empty: a file whose
// other sections use ${VAR}s unset in this shell still works. Problems are reported on stderr.
func storageConfig(path string, getenv func(string) string, stderr io.Writer, extra ...string) (*config.Config, error) {
	if path == "" {
		return defaultConfig(), nil
	}
	cfg, err := config.LoadSections(path, getenv, append(extra, storageSections...)...)
	if err == nil {
		cfg.ApplyDefaults()
		err = cfg.ValidateSections()
	}
	if err != nil {
		reportConfigErrors(stderr, path, err)
		return nil, exitError{"invalid config"}
	}
	return cfg, nil
}
