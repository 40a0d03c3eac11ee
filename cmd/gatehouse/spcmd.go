package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"connectrpc.com/connect"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1/adminv1connect"
)

const spUsage = `Usage: gatehouse sp <command> [flags]

Manages SAML service providers through the admin API (docs/admin-api.md), without a restart:
  create --id ID (--metadata FILE | --metadata-url URL | --entity-id E --acs-url U [--slo-url U] [--sp-cert FILE])
         [--name N] [--name-id-format F] [--attribute NAME=CLAIM]... [--connector C]... [--trusted]
         [--sign-response=false] [--sign-assertion=false] [--encrypt-assertion] [--mfa-class C]...
                        registers the SP; its metadata is parsed and checked now (--metadata -
                        reads stdin; --metadata-url is fetched once, now, and stored)
  get ID                one SP
  list                  every SP: configured (source config, read-only) and created here (api)
  update ID [--version N] [flags of create]
                        replaces the fields whose flags are given, if the SP is still at
                        version N (default: the version read just before the update)
  delete ID             deletes the SP and the consents given to it

Every command takes --admin URL --issuer URL --client-id ID --client-secret S (or
GATEHOUSE_ADMIN, GATEHOUSE_ISSUER, GATEHOUSE_ADMIN_CLIENT_ID, GATEHOUSE_ADMIN_CLIENT_SECRET),
or for mutual TLS --ca FILE --cert FILE --key FILE instead of the token settings, and --json.
`

// spFields are the flags of an SP's fields (create, update).
type spFields struct {
	id, name, metadataFile, metadataURL, entityID, acsURL, sloURL, certFile, nameIDFormat string
	signResponse, signAssertion, encrypt, trusted                                         bool
	attributes, connectors, mfaClasses                                                    stringList
	version                                                                               int64
}

func (f *spFields) register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "display name")
	fs.StringVar(&f.metadataFile, "metadata", "", "a file with the SP's SAML metadata (- for stdin)")
	fs.StringVar(&f.metadataURL, "metadata-url", "", "the URL of the SP's metadata, fetched once now")
	fs.StringVar(&f.entityID, "entity-id", "", "the SP's entity ID (required with --acs-url; checked against the metadata)")
	fs.StringVar(&f.acsURL, "acs-url", "", "the HTTP-POST assertion consumer service of an SP without metadata")
	fs.StringVar(&f.sloURL, "slo-url", "", "the HTTP-Redirect single logout service of an SP without metadata")
	fs.StringVar(&f.certFile, "sp-cert", "", "a PEM file with the certificate of an SP without metadata")
	fs.StringVar(&f.nameIDFormat, "name-id-format", "", "persistent (default), emailAddress or transient")
	fs.Var(&f.attributes, "attribute", "NAME=CLAIM: release the claim as the SAML attribute NAME (repeat)")
	fs.Var(&f.connectors, "connector", "a connector the SP's users may log in with (default: all)")
	fs.Var(&f.mfaClasses, "mfa-class", "an AuthnContextClassRef the SP asks for to mean multi-factor")
	fs.BoolVar(&f.signResponse, "sign-response", true, "sign the Response")
	fs.BoolVar(&f.signAssertion, "sign-assertion", true, "sign the Assertion")
	fs.BoolVar(&f.encrypt, "encrypt-assertion", false, "encrypt the assertion to the SP's encryption certificate")
	fs.BoolVar(&f.trusted, "trusted", false, "skip the consent page")
}

// proto builds the SP of the flags, reading --metadata and --sp-cert.
func (f *spFields) proto(stdin io.Reader) (*adminv1.ServiceProvider, error) {
	sp := &adminv1.ServiceProvider{
		Id: f.id, Name: f.name, MetadataUrl: f.metadataURL, EntityId: f.entityID, AcsUrl: f.acsURL, SloUrl: f.sloURL,
		NameIdFormat: f.nameIDFormat, SignResponse: &f.signResponse, SignAssertion: &f.signAssertion,
		EncryptAssertion: f.encrypt, Trusted: f.trusted, AllowedConnectors: f.connectors, MfaClasses: f.mfaClasses,
		Version: f.version,
	}
	if len(f.attributes) > 0 {
		sp.Attributes = map[string]string{}
		for _, a := range f.attributes {
			name, claim, ok := strings.Cut(a, "=")
			if !ok {
				return nil, fmt.Errorf("--attribute %q: want NAME=CLAIM", a)
			}
			sp.Attributes[name] = claim
		}
	}
	var err error
	if f.metadataFile != "" {
		if sp.Metadata, err = readArgFile(f.metadataFile, stdin); err != nil {
			return nil, fmt.Errorf("--metadata: %w", err)
		}
	}
	if f.certFile != "" {
		if sp.CertPem, err = readArgFile(f.certFile, stdin); err != nil {
			return nil, fmt.Errorf("--sp-cert: %w", err)
		}
	}
	return sp, nil
}

// readArgFile reads a file named on the command line, "-" being stdin.
func readArgFile(name string, stdin io.Reader) (string, error) {
	if name == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
		return string(b), err
	}
	b, err := os.ReadFile(name) //nolint:gosec // a file the operator names
	return string(b), err
}

// spMaskOf maps the flags given on the command line to update_mask field names.
var spMaskOf = map[string]string{
	"name": "name", "metadata": "metadata", "metadata-url": "metadata_url", "entity-id": "entity_id", "acs-url": "acs_url",
	"slo-url": "slo_url", "sp-cert": "cert_pem", "name-id-format": "name_id_format", "attribute": "attributes",
	"connector": "allowed_connectors", "mfa-class": "mfa_classes", "sign-response": "sign_response",
	"sign-assertion": "sign_assertion", "encrypt-assertion": "encrypt_assertion", "trusted": "trusted",
}

// cmdSP implements `gatehouse sp ...`.
func cmdSP(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	wantArgs := map[string]int{"create": 0, "list": 0, "get": 1, "update": 1, "delete": 1}
	known := make([]string, 0, len(wantArgs))
	for name := range wantArgs {
		known = append(known, name)
	}
	if handled, err := subcommandHelp("sp", args, known, stdout, stderr); handled {
		return err
	}
	sub := args[0]
	fs := flag.NewFlagSet("sp "+sub, flag.ContinueOnError)
	var a adminFlags
	a.register(fs, getenv)
	var f spFields
	if sub == "create" {
		fs.StringVar(&f.id, "id", "", "the service provider's ID (required)")
	}
	if sub == "update" {
		fs.Int64Var(&f.version, "version", 0, "fail unless the SP is still at this version (default: the version read just before)")
	}
	if sub == "create" || sub == "update" {
		f.register(fs)
	}
	rest, err := parseAdminFlags(ctx, fs, args[1:], spUsage, stdout, stderr)
	if err != nil {
		return err
	}
	if n := wantArgs[sub]; len(rest) != n {
		fs.Usage()
		return exitError{"usage"}
	}
	if err := a.check(); err != nil {
		fmt.Fprintf(stderr, "gatehouse sp %s: %v\n", sub, err)
		return exitError{"usage"}
	}
	hc, opts, err := a.connection(ctx)
	if err != nil {
		return reportAPIError(stderr, "sp "+sub, err)
	}
	api := adminv1connect.NewServiceProviderServiceClient(hc, a.admin, opts...)
	out, err := callSP(ctx, api, sub, rest, &f, fs, stdin)
	if err != nil {
		return reportAPIError(stderr, "sp "+sub, err)
	}
	if a.json {
		return printJSON(stdout, out)
	}
	return printSPResult(stdout, out)
}

// callSP makes the call of an sp subcommand and returns the answer.
func callSP(ctx context.Context, api adminv1connect.ServiceProviderServiceClient, sub string, rest []string, f *spFields, fs *flag.FlagSet, stdin io.Reader) (protoMessage, error) {
	switch sub {
	case "create":
		sp, err := f.proto(stdin)
		if err != nil {
			return nil, err
		}
		r, err := api.CreateServiceProvider(ctx, connect.NewRequest(&adminv1.CreateServiceProviderRequest{ServiceProvider: sp}))
		return msgOf(r, err)
	case "get":
		r, err := api.GetServiceProvider(ctx, connect.NewRequest(&adminv1.GetServiceProviderRequest{Id: rest[0]}))
		return msgOf(r, err)
	case "list":
		r, err := api.ListServiceProviders(ctx, connect.NewRequest(&adminv1.ListServiceProvidersRequest{}))
		return msgOf(r, err)
	case "update":
		return updateSP(ctx, api, rest[0], f, fs, stdin)
	default: // delete
		r, err := api.DeleteServiceProvider(ctx, connect.NewRequest(&adminv1.DeleteServiceProviderRequest{Id: rest[0]}))
		return msgOf(r, err)
	}
}

// updateSP replaces the fields whose flags were given, at --version or the version read now.
func updateSP(ctx context.Context, api adminv1connect.ServiceProviderServiceClient, id string, f *spFields, fs *flag.FlagSet, stdin io.Reader) (protoMessage, error) {
	f.id = id
	var mask []string
	fs.Visit(func(fl *flag.Flag) {
		if m, ok := spMaskOf[fl.Name]; ok && !slices.Contains(mask, m) {
			mask = append(mask, m)
		}
	})
	if len(mask) == 0 {
		return nil, errors.New("nothing to update: give the flags of the fields to change")
	}
	if f.version == 0 {
		cur, err := api.GetServiceProvider(ctx, connect.NewRequest(&adminv1.GetServiceProviderRequest{Id: id}))
		if err != nil {
			return nil, err
		}
		f.version = cur.Msg.GetServiceProvider().GetVersion()
	}
	sp, err := f.proto(stdin)
	if err != nil {
		return nil, err
	}
	r, err := api.UpdateServiceProvider(ctx, connect.NewRequest(&adminv1.UpdateServiceProviderRequest{ServiceProvider: sp, UpdateMask: mask}))
	return msgOf(r, err)
}

// printSPResult prints an answer as text: a table for a list, fields for one SP.
func printSPResult(w io.Writer, m protoMessage) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch r := m.(type) {
	case *adminv1.ListServiceProvidersResponse:
		fmt.Fprintln(tw, "ID\tSOURCE\tVERSION\tENTITY ID\tNAME")
		for _, sp := range r.GetServiceProviders() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", sp.GetId(), sp.GetSource(), versionText(sp.GetVersion()), sp.GetEntityId(), dash(sp.GetName()))
		}
	case *adminv1.CreateServiceProviderResponse:
		printSP(tw, r.GetServiceProvider())
	case *adminv1.GetServiceProviderResponse:
		printSP(tw, r.GetServiceProvider())
	case *adminv1.UpdateServiceProviderResponse:
		printSP(tw, r.GetServiceProvider())
	case *adminv1.DeleteServiceProviderResponse:
		fmt.Fprintln(tw, "deleted; its requests are refused from now on")
	}
	return tw.Flush()
}

func versionText(v int64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatInt(v, 10)
}

func printSP(w io.Writer, sp *adminv1.ServiceProvider) {
	var attrs []string
	for name, claim := range sp.GetAttributes() {
		attrs = append(attrs, name+"="+claim)
	}
	slices.Sort(attrs)
	metadata := ""
	if n := len(sp.GetMetadata()); n > 0 {
		metadata = fmt.Sprintf("%d bytes (--json shows it)", n)
	}
	rows := [][2]string{
		{"id", sp.GetId()}, {"name", sp.GetName()}, {"source", sp.GetSource()}, {"version", versionText(sp.GetVersion())},
		{"entity_id", sp.GetEntityId()}, {"metadata", metadata}, {"metadata_url", sp.GetMetadataUrl()},
		{"acs_url", sp.GetAcsUrl()}, {"slo_url", sp.GetSloUrl()}, {"name_id_format", sp.GetNameIdFormat()},
		{"attributes", strings.Join(attrs, ", ")}, {"sign_response", fmt.Sprint(sp.GetSignResponse())},
		{"sign_assertion", fmt.Sprint(sp.GetSignAssertion())}, {"encrypt_assertion", fmt.Sprint(sp.GetEncryptAssertion())},
		{"trusted", fmt.Sprint(sp.GetTrusted())}, {"allowed_connectors", strings.Join(sp.GetAllowedConnectors(), ", ")},
		{"mfa_classes", strings.Join(sp.GetMfaClasses(), ", ")},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s:\t%s\n", r[0], dash(r[1]))
	}
}
