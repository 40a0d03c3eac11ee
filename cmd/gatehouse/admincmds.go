package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1/adminv1connect"
)

const userUsage = `Usage: gatehouse user <command> [flags]

Manages the users of the local connector through the admin API (docs/admin-api.md):
  create --username U [--email E] [--email-verified] [--name N] [--group G]...
                        the password is read from stdin (one line)
  set-password USERNAME the new password is read from stdin; enables a disabled user
  disable USERNAME      refuses the user's logins and signs them out everywhere
  delete USERNAME       deletes the user with their sessions, tokens, consents and factors
  list                  every local user (source config: read-only)
`

const sessionUsage = `Usage: gatehouse session <command> [flags]

  list --user USERNAME | --subject SUB     a user's SSO sessions
  revoke ID                                ends one session (as a logout does)
  revoke-all --user USERNAME | --subject SUB
                                           signs the user out everywhere: every session and
                                           every grant (refresh tokens included)
`

const consentUsage = `Usage: gatehouse consent <command> [flags]

  list --user USERNAME | --subject SUB     a user's consents
  revoke --user USERNAME | --subject SUB --client CLIENT
                                           deletes the consent and revokes the client's tokens
`

const keyUsage = `Usage: gatehouse key <command> [flags]

  list      the signing keys: signing, next (published, not signing yet) and retired
  rotate    publishes a new key now; it signs after the publish delay, and the current key
            stays published until its tokens have expired
`

// adminCommand is one subcommand of an admin API command group.
type adminCommand struct {
	args  int                    // positional arguments it takes
	flags func(fs *flag.FlagSet) // its own flags
	call  func(ctx context.Context, c adminConn, args []string) (proto.Message, error)
}

// adminConn reaches the API's services.
type adminConn struct {
	hc     connect.HTTPClient
	url    string
	opts   []connect.ClientOption
	stdin  io.Reader
	stderr io.Writer // the password prompts on a terminal
}

// runAdminGroup parses `gatehouse GROUP SUB ...`, gets a token, runs the call and prints its
// answer (--json, or text by printAnswer).
func runAdminGroup(ctx context.Context, group, usage string, cmds map[string]adminCommand, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	known := make([]string, 0, len(cmds))
	for name := range cmds {
		known = append(known, name)
	}
	if handled, err := subcommandHelp(group, args, known, stdout, stderr); handled {
		return err
	}
	sub, cmd := args[0], cmds[args[0]]
	fs := flag.NewFlagSet(group+" "+sub, flag.ContinueOnError)
	var a adminFlags
	a.register(fs, getenv)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	rest, err := parseAdminFlags(ctx, fs, args[1:], usage, stdout, stderr)
	if err != nil {
		return err
	}
	if len(rest) != cmd.args {
		fs.Usage()
		return exitError{"usage"}
	}
	if err := a.check(); err != nil {
		fmt.Fprintf(stderr, "gatehouse %s %s: %v\n", group, sub, err)
		return exitError{"usage"}
	}
	hc, opts, err := a.connection(ctx)
	if err != nil {
		return reportAPIError(stderr, group+" "+sub, err)
	}
	out, err := cmd.call(ctx, adminConn{hc: hc, url: a.admin, opts: opts, stdin: stdin, stderr: stderr}, rest)
	if err != nil {
		return reportAPIError(stderr, group+" "+sub, err)
	}
	if a.json {
		return printJSON(stdout, out)
	}
	return printAnswer(stdout, out)
}

// userRef is the --user / --subject pair.
type userRef struct{ username, subject string }

func (u *userRef) register(fs *flag.FlagSet) {
	fs.StringVar(&u.username, "user", "", "the user's username (local connector)")
	fs.StringVar(&u.subject, "subject", "", "the user's internal ID (sub)")
}

func (u *userRef) proto() *adminv1.UserRef {
	return &adminv1.UserRef{Username: u.username, Subject: u.subject}
}

// call makes a unary call and returns the response message.
func call[Req, Res any](ctx context.Context, f func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), req *Req) (proto.Message, error) {
	res, err := f(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return any(res.Msg).(proto.Message), nil
}

// cmdUser implements `gatehouse user ...`.
func cmdUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var u adminv1.User
	var groups stringList
	users := func(c adminConn) adminv1connect.UserServiceClient {
		return adminv1connect.NewUserServiceClient(c.hc, c.url, c.opts...)
	}
	cmds := map[string]adminCommand{
		"create": {flags: func(fs *flag.FlagSet) {
			fs.StringVar(&u.Username, "username", "", "the username (required)")
			fs.StringVar(&u.Email, "email", "", "email address")
			fs.BoolVar(&u.EmailVerified, "email-verified", false, "the email address is verified")
			fs.StringVar(&u.Name, "name", "", "display name")
			fs.Var(&groups, "group", "a group (repeat or comma-separate)")
		}, call: func(ctx context.Context, c adminConn, _ []string) (proto.Message, error) {
			pw, err := readPassword(c.stdin, c.stderr)
			if err != nil {
				return nil, err
			}
			u.Groups = groups
			return call(ctx, users(c).CreateUser, &adminv1.CreateUserRequest{User: &u, Password: pw})
		}},
		"set-password": {args: 1, call: func(ctx context.Context, c adminConn, a []string) (proto.Message, error) {
			pw, err := readPassword(c.stdin, c.stderr)
			if err != nil {
				return nil, err
			}
			return call(ctx, users(c).SetUserPassword, &adminv1.SetUserPasswordRequest{Username: a[0], Password: pw})
		}},
		"disable": {args: 1, call: func(ctx context.Context, c adminConn, a []string) (proto.Message, error) {
			return call(ctx, users(c).DisableUser, &adminv1.DisableUserRequest{Username: a[0]})
		}},
		"delete": {args: 1, call: func(ctx context.Context, c adminConn, a []string) (proto.Message, error) {
			return call(ctx, users(c).DeleteUser, &adminv1.DeleteUserRequest{Username: a[0]})
		}},
		"list": {call: func(ctx context.Context, c adminConn, _ []string) (proto.Message, error) {
			return call(ctx, users(c).ListUsers, &adminv1.ListUsersRequest{})
		}},
	}
	return runAdminGroup(ctx, "user", userUsage, cmds, args, getenv, stdin, stdout, stderr)
}

// cmdSession implements `gatehouse session ...`.
func cmdSession(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var ref userRef
	sessions := func(c adminConn) adminv1connect.SessionServiceClient {
		return adminv1connect.NewSessionServiceClient(c.hc, c.url, c.opts...)
	}
	cmds := map[string]adminCommand{
		"list": {flags: ref.register, call: func(ctx context.Context, c adminConn, _ []string) (proto.Message, error) {
			return call(ctx, sessions(c).ListSessions, &adminv1.ListSessionsRequest{User: ref.proto()})
		}},
		"revoke": {args: 1, call: func(ctx context.Context, c adminConn, a []string) (proto.Message, error) {
			return call(ctx, sessions(c).RevokeSession, &adminv1.RevokeSessionRequest{Id: a[0]})
		}},
		"revoke-all": {flags: ref.register, call: func(ctx context.Context, c adminConn, _ []string) (proto.Message, error) {
			return call(ctx, sessions(c).RevokeUserSessions, &adminv1.RevokeUserSessionsRequest{User: ref.proto()})
		}},
	}
	return runAdminGroup(ctx, "session", sessionUsage, cmds, args, getenv, stdin, stdout, stderr)
}

// cmdConsent implements `gatehouse consent ...`.
func cmdConsent(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var ref userRef
	var clientID string
	consents := func(c adminConn) adminv1connect.ConsentServiceClient {
		return adminv1connect.NewConsentServiceClient(c.hc, c.url, c.opts...)
	}
	cmds := map[string]adminCommand{
		"list": {flags: ref.register, call: func(ctx context.Context, c adminConn, _ []string) (proto.Message, error) {
			return call(ctx, consents(c).ListConsents, &adminv1.ListConsentsRequest{User: ref.proto()})
		}},
		"revoke": {flags: func(fs *flag.FlagSet) {
			ref.register(fs)
			fs.StringVar(&clientID, "client", "", "the client whose consent is revoked")
		}, call: func(ctx context.Context, c adminConn, _ []string) (proto.Message, error) {
			return call(ctx, consents(c).RevokeConsent, &adminv1.RevokeConsentRequest{User: ref.proto(), ClientId: clientID})
		}},
	}
	return runAdminGroup(ctx, "consent", consentUsage, cmds, args, getenv, stdin, stdout, stderr)
}

// cmdKey implements `gatehouse key ...`.
func cmdKey(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	keys := func(c adminConn) adminv1connect.KeyServiceClient {
		return adminv1connect.NewKeyServiceClient(c.hc, c.url, c.opts...)
	}
	cmds := map[string]adminCommand{
		"list": {call: func(ctx context.Context, c adminConn, _ []string) (proto.Message, error) {
			return call(ctx, keys(c).ListKeys, &adminv1.ListKeysRequest{})
		}},
		"rotate": {call: func(ctx context.Context, c adminConn, _ []string) (proto.Message, error) {
			return call(ctx, keys(c).RotateKey, &adminv1.RotateKeyRequest{})
		}},
	}
	return runAdminGroup(ctx, "key", keyUsage, cmds, args, getenv, stdin, stdout, stderr)
}

// printAnswer prints an answer of the user, session, consent or key commands as text.
func printAnswer(w io.Writer, m proto.Message) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch r := m.(type) {
	case *adminv1.CreateUserResponse:
		fmt.Fprintf(tw, "created user %s (email %s, groups %s)\n", r.GetUser().GetUsername(), dash(r.GetUser().GetEmail()), dash(strings.Join(r.GetUser().GetGroups(), ",")))
	case *adminv1.SetUserPasswordResponse:
		fmt.Fprintln(tw, "password set")
	case *adminv1.DisableUserResponse:
		fmt.Fprintf(tw, "disabled; %d sessions ended, %d grants revoked\n", r.GetSessionsEnded(), r.GetGrantsRevoked())
	case *adminv1.DeleteUserResponse:
		fmt.Fprintln(tw, "deleted, with the user's sessions, tokens, consents and factors")
	case *adminv1.ListUsersResponse:
		fmt.Fprintln(tw, "USERNAME\tSOURCE\tDISABLED\tEMAIL\tGROUPS")
		for _, u := range r.GetUsers() {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", u.GetUsername(), u.GetSource(), u.GetDisabled(), dash(u.GetEmail()), dash(strings.Join(u.GetGroups(), ",")))
		}
	case *adminv1.ListSessionsResponse:
		fmt.Fprintln(tw, "ID\tSUBJECT\tCONNECTOR\tCREATED\tLAST USED\tEXPIRES")
		for _, s := range r.GetSessions() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.GetId(), s.GetSubject(), strings.Join(s.GetConnectors(), ","),
				ts(s.GetCreateTime()), ts(s.GetLastUsedTime()), ts(s.GetExpireTime()))
		}
	case *adminv1.RevokeSessionResponse:
		fmt.Fprintln(tw, "session ended")
	case *adminv1.RevokeUserSessionsResponse:
		fmt.Fprintf(tw, "signed out everywhere: %d sessions ended, %d grants revoked\n", r.GetSessionsEnded(), r.GetGrantsRevoked())
	case *adminv1.ListConsentsResponse:
		fmt.Fprintln(tw, "CLIENT\tSCOPES\tSUBJECT\tUPDATED")
		for _, c := range r.GetConsents() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.GetClientId(), strings.Join(c.GetScopes(), " "), c.GetSubject(), ts(c.GetUpdateTime()))
		}
	case *adminv1.RevokeConsentResponse:
		fmt.Fprintf(tw, "consent revoked; %d grants revoked\n", r.GetGrantsRevoked())
	case *adminv1.ListKeysResponse:
		printKeys(tw, r.GetKeys())
	case *adminv1.RotateKeyResponse:
		printKeys(tw, []*adminv1.SigningKey{r.GetKey()})
	}
	return tw.Flush()
}

func printKeys(w io.Writer, keys []*adminv1.SigningKey) {
	fmt.Fprintln(w, "KID\tALG\tSTATE\tACTIVE FROM\tRETIRED\tEXPIRES")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.GetId(), k.GetAlgorithm(), k.GetState(), ts(k.GetActiveTime()), ts(k.GetRetireTime()), ts(k.GetExpireTime()))
	}
}

// ts formats a timestamp for a table ("-" when unset).
func ts(t *timestamppb.Timestamp) string {
	if t == nil || t.AsTime().IsZero() || t.AsTime().Unix() == 0 {
		return "-"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}
