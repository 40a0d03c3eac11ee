package authreq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/storage"
)

// RequestURIPrefix begins every request_uri the pushed authorization request endpoint
// issues (RFC 9126 2.2).
const RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// PushedLifetime is how long a pushed request may be used (RFC 9126 2.2 suggests 5 to 600
// seconds).
const PushedLifetime = 60 * time.Second

// Pushed keeps pushed authorization requests (RFC 9126) in storage, shared by replicas: a
// blob per request under the hash of the client ID and the request_uri, taken (read and
// deleted in one atomic step) by the authorization endpoint, so a request_uri is used once.
type Pushed struct {
	Blobs storage.BlobStore
	Taker storage.BlobTaker
	Now   func() time.Time
}

// key names a pushed request's blob: keyed by the client too, so another client presenting
// the request_uri finds nothing (and cannot use it up).
func pushedKey(clientID, requestURI string) string {
	sum := sha256.Sum256([]byte(clientID + "\x00" + requestURI))
	return "par:" + hex.EncodeToString(sum[:])
}

// Put stores the validated parameters of a client's pushed request and returns its new
// request_uri, valid for PushedLifetime.
func (p *Pushed) Put(ctx context.Context, clientID string, params url.Values) (string, error) {
	uri := RequestURIPrefix + opaque.Token()
	now := p.Now().UTC()
	return uri, p.Blobs.PutBlob(ctx, storage.Blob{
		Key: pushedKey(clientID, uri), Value: []byte(params.Encode()), Expiry: now.Add(PushedLifetime),
	})
}

// Take consumes the client's pushed request and returns its parameters: once across
// replicas. An unknown, expired, used or other client's request_uri is invalid_request_uri;
// one not issued by this endpoint (another scheme) is request_uri_not_supported: Gatehouse
// never fetches a request_uri.
func (p *Pushed) Take(ctx context.Context, clientID, requestURI string) (url.Values, error) {
	if !strings.HasPrefix(requestURI, RequestURIPrefix) {
		return nil, &oauth2err.Error{Code: oauth2err.RequestURINotSupported, NoRedirect: true,
			Description: "only request_uri values from the pushed authorization request endpoint are accepted"}
	}
	v, err := p.Taker.TakeBlob(ctx, pushedKey(clientID, requestURI), p.Now().UTC())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, &oauth2err.Error{Code: oauth2err.InvalidRequestURI, NoRedirect: true,
			Description: "the request_uri is unknown, expired, already used or issued to another client"}
	case err != nil:
		return nil, oauth2err.Server(err)
	}
	params, err := url.ParseQuery(string(v))
	if err != nil {
		return nil, oauth2err.Server(err)
	}
	return params, nil
}
