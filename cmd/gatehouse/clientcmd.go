package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1/adminv1connect"
)

const clientUsage = `Usage: gatehouse client <command> [flags]

Manages OAuth clients through the admin API (docs/admin-api.md), without a restart:
  create --id ID [--name N] [--redirect-uri U]... [--public] [--trusted] [--grant-type G]...
         [--scope S]... [--audience A]... [--connector C]... [--post-logout-redirect-uri U]...
                        prints the new client and its secret (shown once)
  get ID                one client
  list                  every client: configured (source config, read-only) and created here (api)
         [--allowed-origin O]... [--token-endpoint-auth-method M] [--jwks-file F | --jwks-uri U]
         [--backchannel-logout-uri U [--backchannel-logout-session-required]]
         [--frontchannel-logout-uri U [--frontchannel-logout-session-required]]
         [--require-par] [--dpop-bound] [--resource R]...
                        (a client with --jwks-file or --jwks-uri uses private_key_jwt: no secret)
  update ID [flags of create] [--version N]   replaces the fields whose flags are given; with
                        --version, only if the client is still at that version (else aborted)
  rotate-secret ID      a new secret; the old one stops working at once
  delete ID             deletes the client and revokes every token issued to it
  registration-token create [--expires 1h] [--uses 1] | list | delete ID
                        initial access tokens for Dynamic Client Registration (docs/registration.md)

Every command takes --admin URL --issuer URL --client-id ID --client-secret S (or
GATEHOUSE_ADMIN, GATEHOUSE_ISSUER, GATEHOUSE_ADMIN_CLIENT_ID, GATEHOUSE_ADMIN_CLIENT_SECRET),
or for mutual TLS --ca FILE --cert FILE --key FILE instead of the token settings, and --json.
`

// clientFields are the flags of a client's fields (create, update).
type clientFields struct {
	id, name                                        string
	public, trusted                                 bool
	redirects, postLogout, grants, scopes, auds, cs stringList
	origins, resources                              stringList
	authMethod, jwksFile, jwksURI, bcl, fcl         string
	bclSession, fclSession, requirePAR, dpopBound   bool
	version                                         int64
	jwks                                            string // read from jwksFile
}

func (c *clientFields) register(fs *flag.FlagSet) {
	fs.StringVar(&c.name, "name", "", "display name")
	fs.BoolVar(&c.public, "public", false, "a public client (no secret; PKCE)")
	fs.BoolVar(&c.trusted, "trusted", false, "skip the consent page")
	fs.Var(&c.redirects, "redirect-uri", "a redirect URI (repeat or comma-separate)")
	fs.Var(&c.postLogout, "post-logout-redirect-uri", "a post-logout redirect URI")
	fs.Var(&c.grants, "grant-type", "a grant type (default authorization_code, refresh_token)")
	fs.Var(&c.scopes, "scope", "a scope client_credentials tokens may carry")
	fs.Var(&c.auds, "audience", "an audience client_credentials tokens may name")
	fs.Var(&c.cs, "connector", "a connector the client's users may log in with (default: all)")
	fs.Var(&c.origins, "allowed-origin", "an origin that may call the API endpoints from a browser (CORS)")
	fs.Var(&c.resources, "resource", "a resource indicator (RFC 8707) tokens may be asked for")
	fs.StringVar(&c.authMethod, "token-endpoint-auth-method", "", "client_secret_basic, client_secret_post, private_key_jwt or none")
	fs.StringVar(&c.jwksFile, "jwks-file", "", "a file with the client's public JSON Web Key Set (private_key_jwt)")
	fs.StringVar(&c.jwksURI, "jwks-uri", "", "where the client publishes its keys (private_key_jwt)")
	fs.StringVar(&c.bcl, "backchannel-logout-uri", "", "receives logout tokens (Back-Channel Logout 1.0)")
	fs.BoolVar(&c.bclSession, "backchannel-logout-session-required", false, "the client needs sid in logout tokens")
	fs.StringVar(&c.fcl, "frontchannel-logout-uri", "", "loaded in an iframe at logout (Front-Channel Logout 1.0)")
	fs.BoolVar(&c.fclSession, "frontchannel-logout-session-required", false, "add iss and sid to the front-channel logout URI")
	fs.BoolVar(&c.requirePAR, "require-par", false, "authorization requests must be pushed (RFC 9126)")
	fs.BoolVar(&c.dpopBound, "dpop-bound", false, "require DPoP proofs at the token endpoint (RFC 9449)")
}

func (c *clientFields) proto() *adminv1.Client {
	return &adminv1.Client{
		Id: c.id, Name: c.name, Public: c.public, Trusted: c.trusted, RedirectUris: c.redirects,
		PostLogoutRedirectUris: c.postLogout, GrantTypes: c.grants, Scopes: c.scopes, Audiences: c.auds,
		AllowedConnectors: c.cs, AllowedOrigins: c.origins, Resources: c.resources, TokenEndpointAuthMethod: c.authMethod,
		Jwks: c.jwks, JwksUri: c.jwksURI, BackchannelLogoutUri: c.bcl, BackchannelLogoutSessionRequired: c.bclSession,
		FrontchannelLogoutUri: c.fcl, FrontchannelLogoutSessionRequired: c.fclSession,
		RequirePushedAuthorizationRequests: c.requirePAR, DpopBoundAccessTokens: c.dpopBound, Version: c.version,
	}
}

// readJWKS reads --jwks-file (bounded).
func (c *clientFields) readJWKS() error {
	if c.jwksFile == "" {
		return nil
	}
	b, err := readBounded(c.jwksFile, 64<<10)
	if err != nil {
		return fmt.Errorf("--jwks-file: %w", err)
	}
	c.jwks = strings.TrimSpace(string(b))
	return nil
}

// maskOf maps the flags given on the command line to update_mask field names.
var maskOf = map[string]string{
	"name": "name", "trusted": "trusted", "redirect-uri": "redirect_uris", "post-logout-redirect-uri": "post_logout_redirect_uris",
	"grant-type": "grant_types", "scope": "scopes", "audience": "audiences", "connector": "allowed_connectors",
	"allowed-origin": "allowed_origins", "resource": "resources", "token-endpoint-auth-method": "token_endpoint_auth_method",
	"jwks-file": "jwks", "jwks-uri": "jwks_uri", "backchannel-logout-uri": "backchannel_logout_uri",
	"backchannel-logout-session-required":  "backchannel_logout_session_required",
	"frontchannel-logout-uri":              "frontchannel_logout_uri",
	"frontchannel-logout-session-required": "frontchannel_logout_session_required",
	"require-par":                          "require_pushed_authorization_requests", "dpop-bound": "dpop_bound_access_tokens",
}

// cmdClient implements `gatehouse client ...`.
func cmdClient(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "registration-token" {
		return cmdRegistrationToken(ctx, args[1:], getenv, stdout, stderr)
	}
	wantArgs := map[string]int{"create": 0, "list": 0, "get": 1, "update": 1, "rotate-secret": 1, "delete": 1, "registration-token": 0}
	known := make([]string, 0, len(wantArgs))
	for name := range wantArgs {
		known = append(known, name)
	}
	if handled, err := subcommandHelp("client", args, known, stdout, stderr); handled {
		return err
	}
	sub := args[0]
	fs := flag.NewFlagSet("client "+sub, flag.ContinueOnError)
	var a adminFlags
	a.register(fs, getenv)
	var f clientFields
	if sub == "create" {
		fs.StringVar(&f.id, "id", "", "the client ID (required)")
	}
	if sub == "create" || sub == "update" {
		f.register(fs)
	}
	if sub == "update" {
		fs.Int64Var(&f.version, "version", 0, "update only if the client is at this version (default: the version read just before)")
	}
	rest, err := parseAdminFlags(ctx, fs, args[1:], clientUsage, stdout, stderr)
	if err != nil {
		return err
	}
	if n := wantArgs[sub]; len(rest) != n {
		fs.Usage()
		return exitError{"usage"}
	}
	if err := a.check(); err != nil {
		fmt.Fprintf(stderr, "gatehouse client %s: %v\n", sub, err)
		return exitError{"usage"}
	}
	if err := f.readJWKS(); err != nil {
		fmt.Fprintf(stderr, "gatehouse client %s: %v\n", sub, err)
		return exitError{"usage"}
	}
	hc, opts, err := a.connection(ctx)
	if err != nil {
		return reportAPIError(stderr, "client "+sub, err)
	}
	api := adminv1connect.NewClientServiceClient(hc, a.admin, opts...)
	out, err := callClient(ctx, api, sub, rest, &f, fs)
	if err != nil {
		return reportAPIError(stderr, "client "+sub, err)
	}
	if a.json {
		return printJSON(stdout, out)
	}
	return printClientResult(stdout, out)
}

// parseAdminFlags parses an admin API subcommand's flags, which may follow its positional
// arguments, as parseFlags parses every other command's (parseWith); it returns the
// positional arguments.
func parseAdminFlags(ctx context.Context, fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) ([]string, error) {
	var rest []string
	err := parseWith(ctx, fs, usage, stdout, stderr, func() (err error) {
		rest, err = parseInterspersed(fs, args)
		return err
	})
	return rest, err
}

// parseInterspersed parses flags that may come before, between or after positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// callClient makes the call of a client subcommand and returns the answer.
func callClient(ctx context.Context, api adminv1connect.ClientServiceClient, sub string, rest []string, f *clientFields, fs *flag.FlagSet) (protoMessage, error) {
	switch sub {
	case "create":
		r, err := api.CreateClient(ctx, connect.NewRequest(&adminv1.CreateClientRequest{Client: f.proto()}))
		return msgOf(r, err)
	case "get":
		r, err := api.GetClient(ctx, connect.NewRequest(&adminv1.GetClientRequest{Id: rest[0]}))
		return msgOf(r, err)
	case "list":
		r, err := api.ListClients(ctx, connect.NewRequest(&adminv1.ListClientsRequest{}))
		return msgOf(r, err)
	case "update":
		f.id = rest[0]
		var mask []string
		fs.Visit(func(fl *flag.Flag) {
			if m, ok := maskOf[fl.Name]; ok {
				mask = append(mask, m)
			}
		})
		if len(mask) == 0 {
			return nil, errors.New("nothing to update: give the flags of the fields to change")
		}
		if f.version == 0 {
			cur, err := api.GetClient(ctx, connect.NewRequest(&adminv1.GetClientRequest{Id: f.id}))
			if err != nil {
				return nil, err
			}
			f.version = cur.Msg.GetClient().GetVersion()
		}
		r, err := api.UpdateClient(ctx, connect.NewRequest(&adminv1.UpdateClientRequest{Client: f.proto(), UpdateMask: mask}))
		return msgOf(r, err)
	case "rotate-secret":
		r, err := api.RotateClientSecret(ctx, connect.NewRequest(&adminv1.RotateClientSecretRequest{Id: rest[0]}))
		return msgOf(r, err)
	default: // delete
		r, err := api.DeleteClient(ctx, connect.NewRequest(&adminv1.DeleteClientRequest{Id: rest[0]}))
		return msgOf(r, err)
	}
}

// protoMessage is an API answer (every response message).
type protoMessage = proto.Message

// msgOf returns a response's message.
func msgOf[T any, PT interface {
	*T
	protoMessage
}](r *connect.Response[T], err error) (protoMessage, error) {
	if err != nil {
		return nil, err
	}
	return PT(r.Msg), nil
}

// printClientResult prints an answer as text: a table for a list, fields for one client.
func printClientResult(w io.Writer, m protoMessage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch r := m.(type) {
	case *adminv1.ListClientsResponse:
		fmt.Fprintln(tw, "ID\tSOURCE\tPUBLIC\tNAME\tREDIRECT URIS")
		for _, c := range r.GetClients() {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", c.GetId(), c.GetSource(), c.GetPublic(), dash(c.GetName()), dash(strings.Join(c.GetRedirectUris(), ",")))
		}
	case *adminv1.CreateClientResponse:
		printClient(tw, r.GetClient())
		if r.GetClientSecret() != "" {
			fmt.Fprintf(tw, "client_secret:\t%s\t(shown once: keep it now)\n", r.GetClientSecret())
		}
	case *adminv1.RotateClientSecretResponse:
		fmt.Fprintf(tw, "id:\t%s\n", r.GetClient().GetId())
		fmt.Fprintf(tw, "client_secret:\t%s\t(shown once; the previous secret no longer works)\n", r.GetClientSecret())
	case *adminv1.GetClientResponse:
		printClient(tw, r.GetClient())
	case *adminv1.UpdateClientResponse:
		printClient(tw, r.GetClient())
	case *adminv1.DeleteClientResponse:
		fmt.Fprintln(tw, "deleted; every token issued to the client is revoked")
	}
	return tw.Flush()
}

func printClient(w io.Writer, c *adminv1.Client) {
	rows := [][2]string{
		{"id", c.GetId()}, {"name", c.GetName()}, {"source", c.GetSource()}, {"public", fmt.Sprint(c.GetPublic())},
		{"trusted", fmt.Sprint(c.GetTrusted())}, {"redirect_uris", strings.Join(c.GetRedirectUris(), ", ")},
		{"post_logout_redirect_uris", strings.Join(c.GetPostLogoutRedirectUris(), ", ")},
		{"grant_types", strings.Join(c.GetGrantTypes(), ", ")}, {"scopes", strings.Join(c.GetScopes(), ", ")},
		{"audiences", strings.Join(c.GetAudiences(), ", ")}, {"allowed_connectors", strings.Join(c.GetAllowedConnectors(), ", ")},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s:\t%s\n", r[0], dash(r[1]))
	}
	// The other metadata only when set, and the version of a stored client.
	opt := [][2]string{
		{"allowed_origins", strings.Join(c.GetAllowedOrigins(), ", ")}, {"token_endpoint_auth_method", c.GetTokenEndpointAuthMethod()},
		{"jwks_uri", c.GetJwksUri()}, {"backchannel_logout_uri", c.GetBackchannelLogoutUri()},
		{"frontchannel_logout_uri", c.GetFrontchannelLogoutUri()}, {"resources", strings.Join(c.GetResources(), ", ")},
		{"jwks", map[bool]string{true: "(set)"}[c.GetJwks() != ""]},
		{"require_pushed_authorization_requests", map[bool]string{true: "true"}[c.GetRequirePushedAuthorizationRequests()]},
		{"dpop_bound_access_tokens", map[bool]string{true: "true"}[c.GetDpopBoundAccessTokens()]},
		{"registered", map[bool]string{true: "true (Dynamic Client Registration)"}[c.GetRegistered()]},
	}
	for _, r := range opt {
		if r[1] != "" {
			fmt.Fprintf(w, "%s:\t%s\n", r[0], r[1])
		}
	}
	if c.GetVersion() > 0 {
		fmt.Fprintf(w, "version:\t%d\n", c.GetVersion())
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
