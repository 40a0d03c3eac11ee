package oauthflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
)

// MaxBody bounds an upstream API response body.
const MaxBody = 4 << 20

// MaxPages bounds how many pages a paged API call follows.
const MaxPages = 50

// HTTPError is an upstream API answer with a non-2xx status.
type HTTPError struct {
	Method, URL string
	Status      int
	// Body is a short, cleaned excerpt of the response body.
	Body string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.URL, e.Status, e.Body)
}

// IsUnauthorized reports whether err is an API answer of 401 (the token is no longer valid).
func IsUnauthorized(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == http.StatusUnauthorized
}

// API calls an upstream JSON API with a bearer token.
type API struct {
	HTTP *http.Client
	// Header is added to every request (Accept, X-GitHub-Api-Version, ...).
	Header http.Header
}

// Get fetches u with the bearer token and decodes the JSON body into v. It returns the
// response headers. A transport failure or a 5xx is a *connectors.UpstreamError, any other
// non-2xx an *HTTPError.
func (a API) Get(ctx context.Context, u, token string, v any) (http.Header, error) {
	req, err := http.NewRequestWithContext(httpx.WithResponseLimit(ctx, MaxBody+1), http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("api request: %w", err)
	}
	for k, vs := range a.Header {
		for _, x := range vs {
			req.Header.Add(k, x)
		}
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := HTTPClient(a.HTTP).Do(req)
	if err != nil {
		return nil, &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("GET %s: %w", redactURL(u), err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("GET %s: read body: %w", redactURL(u), err)}
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("GET %s: response larger than %d bytes", redactURL(u), MaxBody)
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return nil, &connectors.UpstreamError{Temporary: true, Err: &HTTPError{Method: "GET", URL: redactURL(u), Status: resp.StatusCode, Body: clean(string(body), 200)}}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &HTTPError{Method: "GET", URL: redactURL(u), Status: resp.StatusCode, Body: clean(string(body), 200)}
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("GET %s: decode JSON: %w", redactURL(u), err)
	}
	return resp.Header, nil
}

// GetLinkPaged fetches every page of a list API that pages with a Link header (RFC 8288,
// rel="next"), as GitHub and GitLab do, following at most MaxPages pages.
func GetLinkPaged[T any](ctx context.Context, a API, u, token string) ([]T, error) {
	var all []T
	for range MaxPages {
		var page []T
		h, err := a.Get(ctx, u, token, &page)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		next := NextLink(h.Get("Link"))
		if next == "" {
			return all, nil
		}
		if u, err = resolve(u, next); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("GET %s: more than %d pages", redactURL(u), MaxPages)
}

// NextPage is one page of a collection that names its next page in the body, as Bitbucket
// Cloud's API 2.0 does ({"values": [...], "next": "https://..."}).
type NextPage[T any] struct {
	Values []T    `json:"values"`
	Next   string `json:"next"`
}

// GetNextPaged fetches every page of a collection paged by a "next" URL in the body (Bitbucket
// Cloud), following it at most MaxPages times and never to another host.
func GetNextPaged[T any](ctx context.Context, a API, u, token string) ([]T, error) {
	return getBodyPaged(ctx, a, u, token, func(p NextPage[T]) ([]T, string) { return p.Values, p.Next })
}

// ODataPage is one page of a Microsoft Graph collection.
type ODataPage[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

// GetODataPaged fetches every page of an OData collection (Microsoft Graph), following
// @odata.nextLink at most MaxPages times.
func GetODataPaged[T any](ctx context.Context, a API, u, token string) ([]T, error) {
	return getBodyPaged(ctx, a, u, token, func(p ODataPage[T]) ([]T, string) { return p.Value, p.NextLink })
}

// getBodyPaged fetches every page of a collection whose pages (P) name the next page in the
// body: split returns a page's items and its next URL ("" on the last page). It follows at
// most MaxPages pages, never to another host.
func getBodyPaged[P, T any](ctx context.Context, a API, u, token string, split func(P) ([]T, string)) ([]T, error) {
	var all []T
	for range MaxPages {
		var page P
		if _, err := a.Get(ctx, u, token, &page); err != nil {
			return nil, err
		}
		items, next := split(page)
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		var err error
		if u, err = resolve(u, next); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("GET %s: more than %d pages", redactURL(u), MaxPages)
}

func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("next page: %w", err)
	}
	r, err := b.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("next page: %w", err)
	}
	if r.Scheme != b.Scheme || r.Host != b.Host {
		return "", fmt.Errorf("next page %s is on another host than %s", redactURL(r.String()), b.Host)
	}
	return r.String(), nil
}

// NextLink returns the rel="next" target of a Link header, or "".
func NextLink(h string) string {
	for part := range strings.SplitSeq(h, ",") {
		part = strings.TrimSpace(part)
		lt, gt := strings.IndexByte(part, '<'), strings.IndexByte(part, '>')
		if lt != 0 || gt < 0 {
			continue
		}
		target := part[1:gt]
		for param := range strings.SplitSeq(part[gt+1:], ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
				continue
			}
			for rel := range strings.FieldsSeq(strings.Trim(strings.TrimSpace(v), `"`)) {
				if strings.EqualFold(rel, "next") {
					return target
				}
			}
		}
	}
	return ""
}

// redactURL drops the query of u (it may carry tokens in some APIs) for messages.
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
