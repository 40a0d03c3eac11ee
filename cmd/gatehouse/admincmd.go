package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-id/gatehouse/config"
)

// adminFlags are the flags every admin API command takes: where the API is, how to get a
// token, and the output format.
type adminFlags struct {
	admin, issuer, clientID, clientSecret string
	ca, cert, key                         string
	json                                  bool
}

// register adds the common flags to fs, with defaults from the environment.
func (a *adminFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&a.admin, "admin", getenv("GATEHOUSE_ADMIN"), "the admin listener's URL, e.g. http://127.0.0.1:9090 (env GATEHOUSE_ADMIN)")
	fs.StringVar(&a.issuer, "issuer", getenv("GATEHOUSE_ISSUER"), "the issuer URL, where the token is requested (env GATEHOUSE_ISSUER)")
	fs.StringVar(&a.clientID, "client-id", getenv("GATEHOUSE_ADMIN_CLIENT_ID"), "an admin client (admin.clients) (env GATEHOUSE_ADMIN_CLIENT_ID)")
	fs.StringVar(&a.clientSecret, "client-secret", getenv("GATEHOUSE_ADMIN_CLIENT_SECRET"), "its secret (env GATEHOUSE_ADMIN_CLIENT_SECRET)")
	fs.BoolVar(&a.json, "json", false, "print the API's answer as JSON")
	fs.StringVar(&a.ca, "ca", getenv("GATEHOUSE_ADMIN_CA"), "PEM CAs to trust for an https admin listener (env GATEHOUSE_ADMIN_CA)")
	fs.StringVar(&a.cert, "cert", getenv("GATEHOUSE_ADMIN_CERT"), "a client certificate (PEM) for mutual TLS instead of a token; its common name is an admin client (env GATEHOUSE_ADMIN_CERT)")
	fs.StringVar(&a.key, "key", getenv("GATEHOUSE_ADMIN_KEY"), "the client certificate's key (env GATEHOUSE_ADMIN_KEY)")
}

// httpClient is the client of the admin API: with --ca and --cert, for https and mutual TLS.
func (a *adminFlags) httpClient() (*http.Client, error) {
	if a.ca == "" && a.cert == "" {
		return adminHTTP, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.ca != "" {
		pemBytes, err := os.ReadFile(a.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("--ca: %s holds no PEM certificate", a.ca)
		}
	}
	if a.cert != "" {
		pair, err := tls.LoadX509KeyPair(a.cert, a.key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: adminHTTP.Timeout, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}, nil
}

// check reports a missing setting (with a client certificate, no token is needed).
func (a *adminFlags) check() error {
	need := []struct{ name, v string }{{"--admin", a.admin}}
	if a.cert == "" {
		need = append(need, struct{ name, v string }{"--issuer", a.issuer}, struct{ name, v string }{"--client-id", a.clientID},
			struct{ name, v string }{"--client-secret", a.clientSecret})
	}
	for _, f := range need {
		if f.v == "" {
			return fmt.Errorf("%s is required (or its environment variable)", f.name)
		}
	}
	return nil
}

// adminHTTP is the CLI's HTTP client: bounded in time.
var adminHTTP = &http.Client{Timeout: 30 * time.Second}

// token gets an access token with the admin scope by client_credentials, at the token
// endpoint the issuer's discovery document names.
func (a *adminFlags) token(ctx context.Context) (string, error) {
	var disc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := getJSON(ctx, strings.TrimSuffix(a.issuer, "/")+"/.well-known/openid-configuration", &disc); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {config.AdminScope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, disc.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(a.clientID), url.QueryEscape(a.clientSecret))
	resp, err := adminHTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	var tok struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil {
		return "", fmt.Errorf("token endpoint: %s: %w", resp.Status, err)
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: %s: %s %s", resp.Status, tok.Error, tok.Description)
	}
	return tok.AccessToken, nil
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := adminHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck // read-only body
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// connection returns the HTTP client and the call options of the API: a token by
// client_credentials, unless a client certificate authenticates.
func (a *adminFlags) connection(ctx context.Context) (*http.Client, []connect.ClientOption, error) {
	hc, err := a.httpClient()
	if err != nil {
		return nil, nil, err
	}
	if a.cert != "" {
		return hc, nil, nil
	}
	tok, err := a.token(ctx)
	if err != nil {
		return nil, nil, err
	}
	return hc, a.options(tok), nil
}

// options are the Connect client options of an authenticated call.
func (a *adminFlags) options(tok string) []connect.ClientOption {
	return []connect.ClientOption{connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+tok)
			return next(ctx, req)
		}
	}))}
}

// printJSON prints a message as the API's JSON.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// reportAPIError prints an API error as "code: message" and returns the exit error.
func reportAPIError(stderr io.Writer, cmd string, err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		fmt.Fprintf(stderr, "gatehouse %s: %s: %s\n", cmd, ce.Code(), ce.Message())
	} else {
		fmt.Fprintf(stderr, "gatehouse %s: %v\n", cmd, err)
	}
	return exitError{cmd + " failed"}
}

// stringList is a repeatable flag (also comma-separated).
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

// Set adds the value's comma-separated items.
func (s *stringList) Set(v string) error {
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*s = append(*s, item)
		}
	}
	return nil
}
