package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1/adminv1connect"
)

const registrationTokenUsage = `Usage: gatehouse client registration-token <command> [flags]

Initial access tokens for Dynamic Client Registration (RFC 7591; docs/registration.md),
through the admin API; registration.enabled must be on:
  create [--expires 1h] [--uses 1]   prints a new token (shown once; stored hashed)
  list                               every token: ID, uses, expiry (never the token)
  delete ID                          revokes a token (clients it registered stay)

Every command takes the admin API settings of gatehouse client (--admin, --issuer,
--client-id, --client-secret or --ca/--cert/--key) and --json.
`

// cmdRegistrationToken implements `gatehouse client registration-token ...`.
func cmdRegistrationToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	wantArgs := map[string]int{"create": 0, "list": 0, "delete": 1}
	if len(args) == 0 {
		fmt.Fprint(stderr, registrationTokenUsage)
		return exitError{"usage"}
	}
	if isHelpArg(args[0]) { // the usage with every flag (create's are a superset)
		args = append([]string{"create"}, args...)
	}
	sub := args[0]
	n, ok := wantArgs[sub]
	if !ok {
		fmt.Fprintf(stderr, "gatehouse client registration-token: unknown subcommand %q\n\n%s", sub, registrationTokenUsage)
		return exitError{"usage"}
	}
	fs := flag.NewFlagSet("client registration-token "+sub, flag.ContinueOnError)
	var a adminFlags
	a.register(fs, getenv)
	expires, uses := time.Hour, 1
	if sub == "create" {
		fs.DurationVar(&expires, "expires", time.Hour, "how long the token is good for (at most 720h)")
		fs.IntVar(&uses, "uses", 1, "how many clients it may register (at most registration.max_clients_per_token)")
	}
	rest, err := parseAdminFlags(ctx, fs, args[1:], registrationTokenUsage, stdout, stderr)
	if err != nil {
		return err
	}
	if len(rest) != n || expires < time.Second || uses < 1 || uses > 1<<30 {
		fs.Usage()
		return exitError{"usage"}
	}
	if err := a.check(); err != nil {
		fmt.Fprintf(stderr, "gatehouse client registration-token %s: %v\n", sub, err)
		return exitError{"usage"}
	}
	hc, opts, err := a.connection(ctx)
	if err != nil {
		return reportAPIError(stderr, "client registration-token "+sub, err)
	}
	api := adminv1connect.NewClientServiceClient(hc, a.admin, opts...)
	var out protoMessage
	switch sub {
	case "create":
		r, cerr := api.CreateInitialAccessToken(ctx, connect.NewRequest(&adminv1.CreateInitialAccessTokenRequest{
			TtlSeconds: int64(expires / time.Second), MaxUses: int32(uses)})) //nolint:gosec // bounded above
		out, err = msgOf(r, cerr)
	case "list":
		r, cerr := api.ListInitialAccessTokens(ctx, connect.NewRequest(&adminv1.ListInitialAccessTokensRequest{}))
		out, err = msgOf(r, cerr)
	default:
		r, cerr := api.DeleteInitialAccessToken(ctx, connect.NewRequest(&adminv1.DeleteInitialAccessTokenRequest{Id: rest[0]}))
		out, err = msgOf(r, cerr)
	}
	if err != nil {
		return reportAPIError(stderr, "client registration-token "+sub, err)
	}
	if a.json {
		return printJSON(stdout, out)
	}
	return printRegistrationTokens(stdout, out)
}

// printRegistrationTokens prints an answer of the registration-token commands as text.
func printRegistrationTokens(w io.Writer, m protoMessage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(t *adminv1.InitialAccessToken) {
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\n", t.GetId(), t.GetUses(), t.GetMaxUses(),
			t.GetExpireTime().AsTime().UTC().Format(time.RFC3339), dash(t.GetCreatedBy()))
	}
	switch r := m.(type) {
	case *adminv1.CreateInitialAccessTokenResponse:
		t := r.GetInitialAccessToken()
		fmt.Fprintf(tw, "id:\t%s\n", t.GetId())
		fmt.Fprintf(tw, "uses:\t%d\n", t.GetMaxUses())
		fmt.Fprintf(tw, "expires:\t%s\n", t.GetExpireTime().AsTime().UTC().Format(time.RFC3339))
		fmt.Fprintf(tw, "token:\t%s\t(shown once: give it to the registering client as its bearer token)\n", r.GetToken())
	case *adminv1.ListInitialAccessTokensResponse:
		fmt.Fprintln(tw, "ID\tUSES\tEXPIRES\tCREATED BY")
		for _, t := range r.GetInitialAccessTokens() {
			row(t)
		}
	case *adminv1.DeleteInitialAccessTokenResponse:
		fmt.Fprintln(tw, "deleted; the token registers no more clients")
	}
	return tw.Flush()
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path) //nolint:gosec // a path the operator gave
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // read-only
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
