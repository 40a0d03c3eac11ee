// Package authreq parses and validates OAuth 2.0 / OpenID Connect authorization requests
// (RFC 6749 4.1.1, OIDC Core 3.1.2.1, RFC 7636, RFC 8252) into a typed Request. It decides
// which errors are safe to send back to the client's redirect URI and which must be shown
// on an error page instead (unknown client, unregistered or malformed redirect URI).
package authreq

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/language"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

// Request is a validated authorization request.
type Request struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	ResponseMode        string // query | form_post
	Scopes              []string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              int // -1 when absent
	LoginHint           string
	Claims              *ClaimsRequest // the claims parameter (OIDC Core 5.5); nil when absent
	// ClaimsSubject are the sub values the claims parameter demands (OIDC Core 5.5.1): the
	// flow may end only for a user the client knows by one of them. Empty: any user.
	ClaimsSubject []string
	IDTokenHint   string
	ConnectorID   string
	ACRValues     []string
	// DPoPJKT is dpop_jkt (RFC 9449 10): the code is bound to that DPoP key.
	DPoPJKT string
	// Resources are the resource indicators (RFC 8707), each allowed for the client.
	Resources []string
	// UILocales is ui_locales (OIDC Core 3.1.2.1) reduced to its well-formed tags, space-
	// separated, preferred first (see UILocales).
	UILocales string
}

// HasPrompt reports whether the request carries the prompt value.
func (r *Request) HasPrompt(p string) bool { return slices.Contains(r.Prompt, p) }

// HasScope reports whether the request asked for the scope.
func (r *Request) HasScope(s string) bool { return slices.Contains(r.Scopes, s) }

// Limits on parameter sizes; anything longer is refused as invalid_request.
const (
	maxParamLen = 2048
	maxStateLen = 1024
)

// Parse validates the parameters. It returns the request, the client (nil when unknown) and
// an error. When the error has NoRedirect set, it must be shown as a page; otherwise it may
// be sent to req.RedirectURI with req.State using req.ResponseMode. The checks run in a fixed
// order: client and redirect URI first (until both are known nothing is redirected), then the
// response mode (so later errors are delivered the way the client asked), then the rest.
func Parse(form url.Values, reg *clients.Registry, knownScope func(string) bool) (Request, *clients.Client, error) {
	req := Request{MaxAge: -1, ResponseMode: "query"}
	client, err := parseClient(&req, form, reg)
	if err != nil {
		return req, client, err
	}
	// From here on, errors go back to the client.
	req.State = form.Get("state")
	if len(req.State) > 4*maxStateLen {
		req.State = "" // refused below; never echo an oversized value into an error redirect
	}
	if mode := form.Get("response_mode"); mode != "" {
		if mode != "query" && mode != "form_post" {
			return req, client, oauth2err.New(oauth2err.InvalidRequest, "unsupported response_mode")
		}
		req.ResponseMode = mode
	}
	for _, step := range []func(*Request, url.Values, *clients.Client) error{
		checkParams, parseResponseType, scopeParser(knownScope), parsePKCE, parsePrompt, parseHints,
		parseDPoPJKT, parseResources,
	} {
		if err := step(&req, form, client); err != nil {
			return req, client, err
		}
	}
	if err := parseClaims(&req, form, client); err != nil {
		return req, client, err
	}
	return req, client, nil
}

// parseClient finds the client and checks the redirect URI. Its errors are never redirected.
func parseClient(req *Request, form url.Values, reg *clients.Registry) (*clients.Client, error) {
	noRedirect := func(desc string) error {
		return &oauth2err.Error{Code: oauth2err.InvalidRequest, Description: desc, NoRedirect: true}
	}
	// Parameters must not repeat (RFC 6749 3.1).
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(form[k]) > 1 {
			return nil, noRedirect("parameter " + k + " is repeated")
		}
	}
	req.ClientID = form.Get("client_id")
	if req.ClientID == "" {
		return nil, noRedirect("client_id is missing")
	}
	client := reg.Get(req.ClientID)
	if client == nil {
		return nil, &oauth2err.Error{Code: oauth2err.InvalidClient, Description: "unknown client " + strconv.Quote(truncate(req.ClientID)), NoRedirect: true, Status: 400}
	}
	req.RedirectURI = form.Get("redirect_uri")
	if req.RedirectURI == "" {
		return client, noRedirect("redirect_uri is missing")
	}
	if !clients.MatchRedirectURI(client.RedirectURIs, req.RedirectURI) {
		return client, noRedirect("redirect_uri is not registered for this client")
	}
	return client, nil
}

// checkParams refuses repeated and oversized parameters and request objects.
func checkParams(_ *Request, form url.Values, _ *clients.Client) error {
	for k, v := range form {
		if len(v) > 1 && !Repeatable(k) { // resource may repeat (RFC 8707 2)
			return oauth2err.New(oauth2err.InvalidRequest, "parameter "+k+" is repeated")
		}
		lim := maxParamLen
		switch k {
		case "state", "id_token_hint":
			lim = 4 * maxStateLen
		case "claims":
			lim = MaxClaimsParam
		}
		if len(v[0]) > lim {
			return oauth2err.New(oauth2err.InvalidRequest, "parameter "+k+" is too long")
		}
	}
	if form.Has("request") {
		return oauth2err.New(oauth2err.RequestNotSupported, "request objects are not supported")
	}
	if form.Has("request_uri") {
		return oauth2err.New(oauth2err.RequestURINotSupported, "request_uri is not supported")
	}
	return nil
}

// parseResponseType accepts response_type=code only, from a client allowed authorization_code.
func parseResponseType(req *Request, form url.Values, client *clients.Client) error {
	req.ResponseType = form.Get("response_type")
	switch req.ResponseType {
	case "code":
		if !client.AllowsGrant(clients.GrantAuthorizationCode) {
			return oauth2err.New(oauth2err.UnauthorizedClient, "the client may not use the authorization code flow")
		}
		return nil
	case "":
		return oauth2err.New(oauth2err.InvalidRequest, "response_type is missing")
	default:
		return oauth2err.New(oauth2err.UnsupportedResponseType, "only response_type=code is supported")
	}
}

// scopeParser returns the step that reads the scopes (required, deduplicated, all known).
func scopeParser(knownScope func(string) bool) func(*Request, url.Values, *clients.Client) error {
	return func(req *Request, form url.Values, _ *clients.Client) error {
		req.Scopes = strings.Fields(form.Get("scope"))
		if len(req.Scopes) == 0 {
			return oauth2err.New(oauth2err.InvalidScope, "scope is missing")
		}
		req.Scopes = dedupe(req.Scopes)
		for _, s := range req.Scopes {
			if !knownScope(s) {
				return oauth2err.New(oauth2err.InvalidScope, "unknown scope "+strconv.Quote(truncate(s)))
			}
		}
		return nil
	}
}

// parsePKCE reads the nonce and the PKCE challenge: S256 only, required for public clients.
func parsePKCE(req *Request, form url.Values, client *clients.Client) error {
	req.Nonce = form.Get("nonce")
	req.CodeChallenge = form.Get("code_challenge")
	req.CodeChallengeMethod = form.Get("code_challenge_method")
	switch {
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return oauth2err.New(oauth2err.InvalidRequest, "code_challenge_method without code_challenge")
	case req.CodeChallenge == "" && client.Public:
		return oauth2err.New(oauth2err.InvalidRequest, "public clients must use PKCE (code_challenge with S256)")
	case req.CodeChallenge != "":
		if req.CodeChallengeMethod == "" || req.CodeChallengeMethod == "plain" {
			return oauth2err.New(oauth2err.InvalidRequest, "code_challenge_method must be S256; plain is not allowed")
		}
		if req.CodeChallengeMethod != "S256" {
			return oauth2err.New(oauth2err.InvalidRequest, "unsupported code_challenge_method")
		}
		if !validChallenge(req.CodeChallenge) {
			return oauth2err.New(oauth2err.InvalidRequest, "code_challenge must be 43 base64url characters (S256)")
		}
	}
	return nil
}

// parsePrompt reads prompt and max_age.
func parsePrompt(req *Request, form url.Values, _ *clients.Client) error {
	if p := form.Get("prompt"); p != "" {
		req.Prompt = dedupe(strings.Fields(p))
		for _, v := range req.Prompt {
			switch v {
			case "none", "login", "consent", "select_account":
			default:
				return oauth2err.New(oauth2err.InvalidRequest, "unsupported prompt value "+strconv.Quote(truncate(v)))
			}
		}
		if req.HasPrompt("none") && len(req.Prompt) > 1 {
			return oauth2err.New(oauth2err.InvalidRequest, "prompt=none cannot be combined with other values")
		}
	}
	if ma := form.Get("max_age"); ma != "" {
		n, err := strconv.Atoi(ma)
		if err != nil || n < 0 {
			return oauth2err.New(oauth2err.InvalidRequest, "max_age must be a non-negative integer")
		}
		req.MaxAge = n
	}
	return nil
}

// parseHints reads login_hint, id_token_hint, connector_id (allowed for the client) and
// acr_values.
func parseHints(req *Request, form url.Values, client *clients.Client) error {
	req.LoginHint = form.Get("login_hint")
	req.UILocales = UILocales(form.Get("ui_locales"))
	req.IDTokenHint = form.Get("id_token_hint")
	req.ConnectorID = form.Get("connector_id")
	if req.ConnectorID != "" && !client.AllowsConnector(req.ConnectorID) {
		return oauth2err.New(oauth2err.InvalidRequest, "connector_id is not allowed for this client")
	}
	if acr := form.Get("acr_values"); acr != "" {
		req.ACRValues = strings.Fields(acr)
	}
	return nil
}

func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func dedupe(in []string) []string {
	out := in[:0:0]
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// maxUILocales bounds how many ui_locales tags are kept.
const maxUILocales = 8

// UILocales reduces a ui_locales value (space-separated BCP 47 tags, preferred first) to its
// well-formed tags, at most maxUILocales of them, each canonicalized. ui_locales is a hint
// (OIDC Core 3.1.2.1): a malformed or unsupported tag is dropped, never an error.
func UILocales(v string) string {
	if len(v) > 512 {
		v = v[:512]
	}
	var out []string
	for _, f := range strings.Fields(v) {
		if len(out) == maxUILocales {
			break
		}
		if len(f) > 35 {
			continue
		}
		tag, err := language.Parse(f)
		if err != nil {
			continue
		}
		out = append(out, tag.String())
	}
	return strings.Join(out, " ")
}
