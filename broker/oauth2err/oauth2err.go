// Package oauth2err holds the OAuth 2.0 / OpenID Connect error model of Gatehouse: typed error
// codes from RFC 6749, RFC 6750, RFC 7009, RFC 7662 and OIDC Core, constructors (no shared
// mutable sentinels), and the writers that render an error as JSON (token-style endpoints), as
// a WWW-Authenticate challenge (bearer-protected endpoints), or as redirect parameters.
//
// An Error's Description is sent to the client; its cause never is. Anything that is not an
// *Error becomes server_error, with the cause kept for the log.
package oauth2err

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

// Code is an OAuth 2.0 error code.
type Code string

// Error codes (RFC 6749 4.1.2.1 and 5.2, RFC 6750 3.1, OIDC Core 3.1.2.6, RFC 7009 2.2.1).
const (
	InvalidRequest          Code = "invalid_request"
	UnauthorizedClient      Code = "unauthorized_client"
	AccessDenied            Code = "access_denied"
	UnsupportedResponseType Code = "unsupported_response_type"
	InvalidScope            Code = "invalid_scope"
	ServerError             Code = "server_error"
	TemporarilyUnavailable  Code = "temporarily_unavailable"
	InvalidClient           Code = "invalid_client"
	InvalidGrant            Code = "invalid_grant"
	UnsupportedGrantType    Code = "unsupported_grant_type"
	InvalidToken            Code = "invalid_token"
	InsufficientScope       Code = "insufficient_scope"
	UnsupportedTokenType    Code = "unsupported_token_type"
	InteractionRequired     Code = "interaction_required"
	LoginRequired           Code = "login_required"
	ConsentRequired         Code = "consent_required"
	AccountSelectionNeeded  Code = "account_selection_required"
	RequestNotSupported     Code = "request_not_supported"
	RequestURINotSupported  Code = "request_uri_not_supported"
	InvalidRequestObject    Code = "invalid_request_object"
	// InvalidRequestURI: a request_uri that is unknown, expired, used or another client's
	// (RFC 9101 6.2, RFC 9126 4).
	InvalidRequestURI Code = "invalid_request_uri"
	// InvalidTarget: the requested audience or resource is not allowed (RFC 8707, RFC 8693).
	InvalidTarget Code = "invalid_target"
	// AuthorizationPending, SlowDown and ExpiredToken are the device grant's polling answers
	// (RFC 8628 3.5).
	AuthorizationPending Code = "authorization_pending"
	SlowDown             Code = "slow_down"
	ExpiredToken         Code = "expired_token"
	// InvalidRedirectURI, InvalidClientMetadata, InvalidSoftwareStatement and
	// UnapprovedSoftwareStatement are Dynamic Client Registration's errors (RFC 7591 3.2.2).
	InvalidRedirectURI          Code = "invalid_redirect_uri"
	InvalidClientMetadata       Code = "invalid_client_metadata"
	InvalidSoftwareStatement    Code = "invalid_software_statement"
	UnapprovedSoftwareStatement Code = "unapproved_software_statement"
)

// Error is an OAuth error response.
type Error struct {
	Code        Code
	Description string
	// Status is the HTTP status for JSON responses (default from the code).
	Status int
	// NoRedirect marks errors that must never be sent to the redirect URI (unknown client,
	// unregistered redirect URI).
	NoRedirect bool
	cause      error
}

func (e *Error) Error() string {
	if e.Description == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Description
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.cause }

// WithCause attaches an internal cause (logged, never sent).
func (e *Error) WithCause(err error) *Error { e.cause = err; return e }

// LogValue renders the error for slog, with its cause.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("error", string(e.Code))}
	if e.Description != "" {
		attrs = append(attrs, slog.String("description", e.Description))
	}
	if e.cause != nil {
		attrs = append(attrs, slog.String("cause", e.cause.Error()))
	}
	return slog.GroupValue(attrs...)
}

// New returns an error with the code and description.
func New(code Code, description string) *Error {
	return &Error{Code: code, Description: description}
}

// Server wraps an internal failure as server_error; the cause is logged, not sent.
func Server(cause error) *Error {
	return &Error{Code: ServerError, Description: "internal error", cause: cause}
}

// As converts any error into an *Error (server_error for foreign errors).
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Server(err)
}

// HTTPStatus is the status code to use for the error in a JSON response.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Code {
	case InvalidClient, InvalidToken:
		return http.StatusUnauthorized
	case InsufficientScope, AccessDenied:
		return http.StatusForbidden
	case ServerError:
		return http.StatusInternalServerError
	case TemporarilyUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

type body struct {
	Error       Code   `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// WriteJSON writes the error as an RFC 6749 5.2 JSON response with no-store caching.
// invalid_client is always answered with 401 and a Basic challenge: RFC 6749 5.2 requires
// that when the client tried HTTP Basic, and allows it otherwise. r may be nil.
func WriteJSON(w http.ResponseWriter, r *http.Request, err error) {
	e := As(err)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	status := e.HTTPStatus()
	if e.Code == InvalidClient {
		status = http.StatusUnauthorized
		h.Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body{Error: e.Code, Description: e.Description}) //nolint:errcheck // the client went away; nothing to do
}

// WriteBearer writes an RFC 6750 3 error for a bearer-protected resource (userinfo).
//
// A nil err, or an *Error with an empty Code, means the request carried no credentials at
// all: RFC 6750 3.1 then wants a bare `Bearer realm=...` challenge with no error code, so the
// answer is a 401 with that challenge and no body.
func WriteBearer(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	challenge := `Bearer realm="gatehouse"`
	var e *Error
	if err != nil {
		e = As(err)
	}
	if e == nil || e.Code == "" {
		h.Set("WWW-Authenticate", challenge)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if e.Code != ServerError {
		challenge += `, error="` + string(e.Code) + `"`
		if d := quoteSafe(e.Description); d != "" {
			challenge += `, error_description="` + d + `"`
		}
	}
	h.Set("WWW-Authenticate", challenge)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(e.HTTPStatus())
	_ = json.NewEncoder(w).Encode(body{Error: e.Code, Description: e.Description}) //nolint:errcheck // the client went away; nothing to do
}

// quoteSafe keeps only characters RFC 6750 allows in error_description (%x20-21 / %x23-5B / %x5D-7E).
func quoteSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e && r != '"' && r != '\\' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Degrade turns a server_error caused by an unreachable storage backend (storageDown reports
// true) into a 503 temporarily_unavailable, so clients and load balancers know to retry
// elsewhere or later. Any other error is returned as it is.
func Degrade(ctx context.Context, err error, storageDown func(context.Context) bool) error {
	e := As(err)
	if e.Code != ServerError || storageDown == nil || !storageDown(ctx) {
		return err
	}
	return &Error{Code: TemporarilyUnavailable,
		Description: "the authorization server cannot reach its database; try again shortly",
		Status:      http.StatusServiceUnavailable}
}
