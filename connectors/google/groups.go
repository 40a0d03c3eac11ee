package google

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

// Google's token endpoint for service accounts, the Admin SDK Directory API, and the
// read-only scope that lists a user's groups.
const (
	DefaultTokenURL  = "https://oauth2.googleapis.com/token"
	DirectoryURL     = "https://admin.googleapis.com"
	DirectoryScope   = "https://www.googleapis.com/auth/admin.directory.group.readonly"
	maxServiceKeyLen = 64 << 10
)

// serviceAccountKey is the JSON key file Google issues for a service account (the fields
// Gatehouse reads).
type serviceAccountKey struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	TokenURI     string `json:"token_uri"`
}

// readServiceAccount reads and checks a service account key file: type service_account, a
// client_email, a PEM private key that parses, and an https token_uri (default Google's).
func readServiceAccount(path string) (serviceAccountKey, error) {
	var k serviceAccountKey
	f, err := os.Open(path)
	if err != nil {
		return k, fmt.Errorf("service_account_file: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(&limitedReader{r: f, n: maxServiceKeyLen})
	if err := dec.Decode(&k); err != nil {
		return k, fmt.Errorf("service_account_file %s: not a service account JSON key: %w", path, err)
	}
	var errs []error
	if k.Type != "service_account" {
		errs = append(errs, fmt.Errorf("type is %q, want service_account", k.Type))
	}
	if k.ClientEmail == "" {
		errs = append(errs, errors.New("no client_email"))
	}
	if err := checkPrivateKey(k.PrivateKey); err != nil {
		errs = append(errs, err)
	}
	if k.TokenURI == "" {
		k.TokenURI = DefaultTokenURL
	} else if err := oauthflow.ValidateEndpoint(k.TokenURI); err != nil {
		errs = append(errs, fmt.Errorf("token_uri: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return k, fmt.Errorf("service_account_file %s: %w", path, err)
	}
	return k, nil
}

// checkPrivateKey reports whether s is a PEM RSA private key (PKCS#8 as Google issues, or
// PKCS#1). The key itself never appears in an error.
func checkPrivateKey(s string) error {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return errors.New("private_key is not PEM")
	}
	if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		return nil
	}
	if _, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return nil
	}
	return errors.New("private_key is not an RSA private key")
}

// limitedReader fails, rather than truncates, past n bytes.
type limitedReader struct {
	r io.Reader
	n int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("larger than %d bytes", maxServiceKeyLen)
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= n
	return n, err
}

// directory lists a Workspace user's groups with the Admin SDK Directory API, as a service
// account impersonating an admin (domain-wide delegation).
type directory struct {
	jwt     *jwt.Config
	baseURL string
	http    *http.Client
	api     oauthflow.API

	mu  sync.Mutex
	tok *oauth2.Token
}

func newDirectory(k serviceAccountKey, admin, baseURL string, httpc *http.Client) *directory {
	return &directory{
		jwt: &jwt.Config{
			Email: k.ClientEmail, PrivateKey: []byte(k.PrivateKey), PrivateKeyID: k.PrivateKeyID,
			Subject: admin, Scopes: []string{DirectoryScope}, TokenURL: k.TokenURI, Expires: time.Hour,
		},
		baseURL: strings.TrimSuffix(baseURL, "/"), http: httpc, api: oauthflow.API{HTTP: httpc},
	}
}

// token returns a valid access token for the Directory API, fetching one with a signed JWT
// (RFC 7523) when the cached one has expired.
func (d *directory) token(ctx context.Context) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tok.Valid() {
		return d.tok.AccessToken, nil
	}
	tok, err := d.jwt.TokenSource(oauthflow.WithClient(ctx, d.http)).Token()
	if err != nil {
		return "", serviceAccountError(err)
	}
	d.tok = tok
	return tok.AccessToken, nil
}

// serviceAccountError classifies a failed JWT bearer grant. A refusal (unauthorized_client:
// domain-wide delegation not granted for the scope; invalid_grant: admin_email unknown or not
// an admin) is a configuration problem, reported as a non-temporary upstream error.
func serviceAccountError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil && re.Response.StatusCode >= 500 {
			return &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("google service account token: HTTP %d", re.Response.StatusCode)}
		}
		return &connectors.UpstreamError{Err: fmt.Errorf("google service account token refused (%q): check domain-wide delegation of %s and admin_email", re.ErrorCode, DirectoryScope)}
	}
	if oauthflow.IsUnreachable(err) {
		return &connectors.UpstreamError{Temporary: true, Err: fmt.Errorf("google service account token: %w", err)}
	}
	return fmt.Errorf("google service account token: %w", err)
}

type groupsPage struct {
	Groups []struct {
		Email string `json:"email"`
	} `json:"groups"`
	NextPageToken string `json:"nextPageToken"`
}

// groups returns the email addresses of the groups userKey (the user's immutable ID, the ID
// token's sub) is a direct member of. A user the directory does not know has none.
func (d *directory) groups(ctx context.Context, userKey string) ([]string, error) {
	tok, err := d.token(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	pageToken := ""
	for range oauthflow.MaxPages {
		q := url.Values{"userKey": {userKey}, "maxResults": {"200"}}
		if pageToken != "" {
			q.Set("pageToken", pageToken)
		}
		var page groupsPage
		_, err := d.api.Get(ctx, d.baseURL+"/admin/directory/v1/groups?"+q.Encode(), tok, &page)
		var he *oauthflow.HTTPError
		switch {
		case errors.As(err, &he) && he.Status == http.StatusNotFound:
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("google directory groups: %w", err)
		}
		for _, g := range page.Groups {
			if g.Email != "" && !slices.Contains(out, g.Email) {
				out = append(out, g.Email)
			}
		}
		if page.NextPageToken == "" {
			return out, nil
		}
		pageToken = page.NextPageToken
	}
	return nil, fmt.Errorf("google directory groups: more than %d pages", oauthflow.MaxPages)
}
