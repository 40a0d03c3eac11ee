package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
	"github.com/gatehouse-id/gatehouse/web"
)

// checkConfig is the one path serve and check-config take through a configuration file:
// parse (strict keys), defaults, Validate, every ${VAR} reference at once (unset and empty
// told apart), each connector block (decoded strictly and validated), the claims rules and
// claims_tests, and what can be opened without side effects (TLS certificate and key, SAML
// IdP key and certificate, templates). Problems come back as one *config.Errors, each
// "file:line: path: message"; warnings are what loads but cannot work as meant.
func checkConfig(ctx context.Context, path string, getenv func(string) string) (*config.Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read configuration: %w", err)
	}
	vars := config.VariableProblems(data, path, envLookup(getenv))
	cfg, err := config.Parse(data, path, getenv)
	if err != nil {
		return nil, nil, withVariableProblems(err, vars)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil || len(vars) > 0 {
		return nil, nil, withVariableProblems(err, vars)
	}
	decoded, err := assembly.DecodeConnectors(cfg, path, getenv, newRegistry(nil))
	warnings := append(assembly.CheapHashWarnings(cfg, decoded), cfg.Warnings()...)
	// Claims rules (CEL expressions, patterns, scopes) and claims_tests, reported with the rest.
	err = joinConfigErrors(err, claims.Check(ctx, cfg))
	err = joinConfigErrors(err, openChecks(cfg))
	if err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

// envLookup tells an unset variable from an empty one: getenv's value, else whether the
// process environment has the variable (set but empty).
func envLookup(getenv func(string) string) config.EnvLookup {
	return func(name string) (string, bool) {
		if getenv != nil {
			if v := getenv(name); v != "" {
				return v, true
			}
		}
		_, set := os.LookupEnv(name)
		return "", set
	}
}

// withVariableProblems replaces the variable problems of err (those of the sections Parse
// reached) with vars (those of the whole file), ordered by line.
func withVariableProblems(err error, vars []*config.Problem) error {
	var ps []*config.Problem
	var ce *config.Errors
	switch {
	case err == nil:
	case errors.As(err, &ce):
		for _, p := range ce.Problems {
			if !config.IsVariableProblem(p) {
				ps = append(ps, p)
			}
		}
	default:
		return err
	}
	ps = append(ps, vars...)
	slices.SortStableFunc(ps, func(a, b *config.Problem) int { return cmp.Compare(a.Line, b.Line) })
	return &config.Errors{Problems: ps}
}

// openChecks opens what the configuration names that can be opened without side effects:
// the https certificate and key (they exist, parse and belong together), the client CA file,
// the SAML IdP's key and certificate, and the templates directory (every template parses).
func openChecks(cfg *config.Config) error {
	var ps []*config.Problem
	add := func(path string, format string, args ...any) {
		file, line := cfg.Position(path)
		ps = append(ps, &config.Problem{File: file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
	}
	exists := func(path, file string) bool {
		if _, err := os.Stat(file); err != nil {
			add(path, "%s: %v", file, unwrapPathError(err))
			return false
		}
		return true
	}
	w := cfg.Web
	if w.HTTPS != "" && exists("web.tls_cert", w.TLSCert) && exists("web.tls_key", w.TLSKey) {
		if _, err := tls.LoadX509KeyPair(w.TLSCert, w.TLSKey); err != nil {
			add("web.tls_cert", "the certificate %s and the key %s do not load as a pair: %v", w.TLSCert, w.TLSKey, err)
		}
	}
	if w.ClientCA != "" && exists("web.client_ca", w.ClientCA) {
		if _, err := clientCATLS(w.ClientCA); err != nil {
			add("web.client_ca", "%v", err)
		}
	}
	if s := cfg.SAMLIdP; s.Key != "" && s.Cert != "" && exists("saml_idp.key", s.Key) && exists("saml_idp.cert", s.Cert) {
		if _, _, err := samlidp.LoadKeyFiles(s.Key, s.Cert); err != nil {
			add("saml_idp.key", "the key %s and certificate %s: %v", s.Key, s.Cert, err)
		}
	}
	if d := w.TemplatesDir; d != "" {
		if fi, err := os.Stat(d); err != nil {
			add("web.templates_dir", "%s: %v", d, unwrapPathError(err))
		} else if !fi.IsDir() {
			add("web.templates_dir", "%s is not a directory", d)
		} else if _, err := web.Load(d); err != nil {
			add("web.templates_dir", "%v", err)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return &config.Errors{Problems: ps}
}

// unwrapPathError drops the "stat FILE:" prefix a *fs.PathError repeats.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
