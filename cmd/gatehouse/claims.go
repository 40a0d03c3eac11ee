package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/config"
)

const claimsUsage = `Usage: gatehouse claims explain --config FILE --connector ID --input upstream.json|-
                         [--client ID] [--scopes "openid email"]

Runs an upstream identity (JSON: subject, username, email, email_verified, name, groups,
attrs, acr, amr; or an identity a connector's tests recorded, connectors/<type>/testdata/
<type>-upstream.json) through the claims rules of a connector (and a client), and prints what
each step did and the ID token and userinfo claims that would be issued. Nothing is stored:
account linking runs against an empty in-memory store. --input - reads the identity from
stdin. Exit status 0 when the login would be allowed, 1 when it would be denied (or on an
error).
`

// cmdClaims runs the claims subcommands.
func cmdClaims(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if handled, err := subcommandHelp("claims", args, []string{"explain"}, stdout, stderr); handled {
		return err
	}
	fs := flag.NewFlagSet("claims explain", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	connector := fs.String("connector", "", "connector ID whose rules apply")
	input := fs.String("input", "", "upstream identity as JSON: a file, or - for stdin")
	client := fs.String("client", "", "client ID whose rules apply (optional)")
	scopes := fs.String("scopes", "", `granted scopes, space-separated (default: openid and every known scope)`)
	if err := parseFlags(ctx, fs, args[1:], claimsUsage, stdout, stderr); err != nil {
		return err
	}
	if *cfgPath == "" || *connector == "" || *input == "" || fs.NArg() > 0 {
		printUsage(stderr, fs, claimsUsage)
		return exitError{"usage"}
	}
	cfg, err := loadConfig(*cfgPath, getenv)
	if err != nil {
		reportConfigErrors(stderr, *cfgPath, err)
		return exitError{"invalid config"}
	}
	if ids := connectorIDs(cfg); !slices.Contains(ids, *connector) {
		fmt.Fprintf(stderr, "gatehouse claims explain: %s has no connector %q; its connectors are: %s\n", *cfgPath, *connector, strings.Join(ids, ", "))
		return exitError{"unknown connector"}
	}
	n, err := claims.New(cfg, claims.Options{})
	if err != nil {
		reportConfigErrors(stderr, *cfgPath, err)
		return exitError{"invalid config"}
	}
	data, err := readInput(*input, stdin)
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	up, err := parseUpstreamJSON(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	var sc []string
	if *scopes != "" {
		sc = strings.Fields(*scopes)
	}
	tr, err := n.Explain(ctx, *connector, claims.UpstreamOf(up), *client, sc)
	if err != nil {
		return err
	}
	printTrace(stdout, *connector, *client, tr)
	if tr.Denied != "" {
		return exitError{"denied"}
	}
	return nil
}

// maxExplainInput bounds the upstream identity read by claims explain.
const maxExplainInput = 1 << 20

// readInput reads a file, or stdin for "-", at most maxExplainInput bytes.
func readInput(name string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxExplainInput+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxExplainInput {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxExplainInput)
	}
	return data, nil
}

// connectorIDs lists the configuration's connector IDs, in order.
func connectorIDs(cfg *config.Config) []string {
	ids := make([]string, 0, len(cfg.Connectors))
	for _, c := range cfg.Connectors {
		ids = append(ids, c.ID)
	}
	return ids
}

// upstreamJSON is the explain input: an upstream identity as a connector returns it.
type upstreamJSON struct {
	Subject       string `json:"subject"`
	Username      string `json:"username"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	// EmailNotLinkable: the connector marked the email not linkable (Apple's private relay).
	EmailNotLinkable bool                `json:"email_not_linkable"`
	Name             string              `json:"name"`
	Groups           []string            `json:"groups"`
	Attrs            map[string][]string `json:"attrs"`
	ACR              string              `json:"acr"`
	AMR              []string            `json:"amr"`
}

// recordedUpstream is connectors.Upstream as the connectors' tests record it
// (claimstest.RecordUpstream); the times and the connector-private stash are not claims input.
type recordedUpstream struct {
	Subject          string
	Username         string
	Email            string
	EmailVerified    bool
	EmailNotLinkable bool
	Name             string
	Attrs            map[string][]string
	Groups           []string
	AuthTime         json.RawMessage
	AMR              []string
	ACR              string
	Stash            json.RawMessage
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func parseUpstreamJSON(data []byte) (config.ClaimsTestInput, error) {
	var in upstreamJSON
	if err := decodeStrict(data, &in); err != nil {
		var rec recordedUpstream
		if decodeStrict(data, &rec) != nil {
			return config.ClaimsTestInput{}, fmt.Errorf("invalid upstream identity JSON: %w", err)
		}
		in = upstreamJSON{Subject: rec.Subject, Username: rec.Username, Email: rec.Email, EmailVerified: rec.EmailVerified,
			EmailNotLinkable: rec.EmailNotLinkable, Name: rec.Name, Groups: rec.Groups, Attrs: rec.Attrs, ACR: rec.ACR, AMR: rec.AMR}
	}
	if in.Subject == "" {
		return config.ClaimsTestInput{}, fmt.Errorf(`the upstream identity needs a "subject" (the upstream's stable user ID)`)
	}
	return config.ClaimsTestInput{
		Subject: in.Subject, Username: in.Username, Email: in.Email, EmailVerified: in.EmailVerified, EmailNotLinkable: in.EmailNotLinkable,
		Name: in.Name, Groups: in.Groups, Attrs: in.Attrs, ACR: in.ACR, AMR: in.AMR,
	}, nil
}

func printTrace(w io.Writer, connector, client string, tr *claims.Trace) {
	fmt.Fprintf(w, "connector %s", connector)
	if client != "" {
		fmt.Fprintf(w, ", client %s", client)
	}
	fmt.Fprintln(w)
	for i, st := range tr.Steps {
		fmt.Fprintf(w, "\n%d. %s\n", i+1, st.Name)
		for _, n := range st.Notes {
			fmt.Fprintf(w, "   %s\n", n)
		}
	}
	if tr.Denied != "" {
		fmt.Fprintf(w, "\nDENIED: the user sees \"You signed in, but you may not use this application: %s.\"\n", tr.Denied)
		fmt.Fprintln(w, "The client receives error=access_denied; no tokens are issued.")
		return
	}
	for _, part := range []struct {
		title string
		v     map[string]any
	}{{"ID token claims", tr.IDToken}, {"Userinfo claims", tr.Userinfo}} {
		fmt.Fprintf(w, "\n%s (besides iss, aud, exp, iat, auth_time, nonce, sid, acr, amr):\n", part.title)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(part.v); err != nil {
			fmt.Fprintf(w, "(cannot print: %v)\n", err)
		}
	}
}
