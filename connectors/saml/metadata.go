package saml

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	csaml "github.com/crewjam/saml"
	"github.com/jonboulle/clockwork"

	"github.com/gatehouse-id/gatehouse/internal/httpx"
)

// maxMetadataSize bounds an IdP metadata document (federation aggregates can be large).
const maxMetadataSize = 32 << 20

// metadataTimeout bounds one metadata fetch.
const metadataTimeout = 15 * time.Second

// idpSource holds the IdP metadata: fetched lazily, refreshed every refresh, and kept in use
// while a refresh fails. Without metadata, a failed fetch is not retried for retry, so a
// dead IdP is not hammered by every login attempt.
type idpSource struct {
	static  *csaml.EntityDescriptor // set for idp_sso_url configurations: never loaded
	load    func(context.Context) ([]byte, error)
	parse   func([]byte) (*csaml.EntityDescriptor, error)
	refresh time.Duration
	retry   time.Duration
	now     func() time.Time
	logger  *slog.Logger

	mu      sync.Mutex
	cur     *csaml.EntityDescriptor
	fetched time.Time // when cur was loaded
	tried   time.Time // last load attempt
	lastErr error
	gen     uint64 // bumped whenever cur changes
}

// get returns the current metadata and its generation, loading or refreshing it as needed.
func (s *idpSource) get(ctx context.Context) (*csaml.EntityDescriptor, uint64, error) {
	if s.static != nil {
		return s.static, 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	fresh := s.cur != nil && now.Sub(s.fetched) < s.refresh
	recentlyFailed := s.lastErr != nil && now.Sub(s.tried) < s.retry
	if fresh || recentlyFailed {
		if s.cur != nil {
			return s.cur, s.gen, nil
		}
		return nil, 0, s.lastErr
	}
	s.tried = now
	ed, err := s.fetch(ctx)
	if err != nil {
		s.lastErr = err
		if s.cur != nil {
			s.logger.WarnContext(ctx, "saml: IdP metadata refresh failed; keeping the previous metadata", "err", err)
			return s.cur, s.gen, nil
		}
		s.logger.WarnContext(ctx, "saml: IdP metadata unavailable", "err", err)
		return nil, 0, err
	}
	s.lastErr = nil
	s.cur, s.fetched = ed, now
	s.gen++
	return s.cur, s.gen, nil
}

func (s *idpSource) fetch(ctx context.Context) (*csaml.EntityDescriptor, error) {
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	b, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	ed, err := s.parse(b)
	if err != nil {
		return nil, fmt.Errorf("IdP metadata: %w", err)
	}
	return ed, nil
}

func fetchMetadata(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	// Federation aggregates are allowed past httpx.MaxResponseBytes, up to maxMetadataSize.
	req, err := http.NewRequestWithContext(httpx.WithResponseLimit(ctx, maxMetadataSize+1), http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch IdP metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch IdP metadata: %s answered %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch IdP metadata: %w", err)
	}
	if len(b) > maxMetadataSize {
		return nil, fmt.Errorf("fetch IdP metadata: larger than %d bytes", maxMetadataSize)
	}
	return b, nil
}

func readMetadataFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read IdP metadata: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("read IdP metadata: %w", err)
	}
	if len(b) > maxMetadataSize {
		return nil, fmt.Errorf("read IdP metadata: larger than %d bytes", maxMetadataSize)
	}
	return b, nil
}

// parseIDPMetadata parses an EntityDescriptor or an EntitiesDescriptor aggregate and returns
// the IdP entity: the one named entityID, or the only one with an IDPSSODescriptor. With
// certs, the document must carry a valid signature by one of them, and only what the
// signature covers is read.
func parseIDPMetadata(b []byte, entityID string, certs []*x509.Certificate) (*csaml.EntityDescriptor, error) {
	if len(certs) > 0 {
		signed, err := csaml.VerifyMetadataSignature(b, certs)
		if err != nil {
			return nil, fmt.Errorf("metadata signature: %w", err)
		}
		b = signed
	}
	root, err := rootName(b)
	if err != nil {
		return nil, err
	}
	var found []*csaml.EntityDescriptor
	switch root.Local {
	case "EntityDescriptor":
		ed := &csaml.EntityDescriptor{}
		if err := xml.Unmarshal(b, ed); err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		found = append(found, ed)
	case "EntitiesDescriptor":
		eds := &csaml.EntitiesDescriptor{}
		if err := xml.Unmarshal(b, eds); err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		found = collectEntities(eds, found, 0)
	default:
		return nil, fmt.Errorf("root element is %s, not EntityDescriptor or EntitiesDescriptor", root.Local)
	}
	var match []*csaml.EntityDescriptor
	for _, ed := range found {
		if len(ed.IDPSSODescriptors) == 0 {
			continue
		}
		if entityID == "" || ed.EntityID == entityID {
			match = append(match, ed)
		}
	}
	switch {
	case len(match) == 0 && entityID != "":
		return nil, fmt.Errorf("no IdP entity %q in the metadata", entityID)
	case len(match) == 0:
		return nil, errors.New("no entity with an IDPSSODescriptor in the metadata")
	case len(match) > 1:
		return nil, fmt.Errorf("%d IdP entities in the metadata: set idp_metadata_entity_id", len(match))
	}
	ed := match[0]
	if ed.EntityID == "" {
		return nil, errors.New("IdP entity has no entityID")
	}
	return ed, nil
}

func collectEntities(eds *csaml.EntitiesDescriptor, out []*csaml.EntityDescriptor, depth int) []*csaml.EntityDescriptor {
	if depth > 16 {
		return out
	}
	for i := range eds.EntityDescriptors {
		out = append(out, &eds.EntityDescriptors[i])
	}
	for i := range eds.EntitiesDescriptors {
		out = collectEntities(&eds.EntitiesDescriptors[i], out, depth+1)
	}
	return out
}

func rootName(b []byte) (xml.Name, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	for range 1024 {
		tok, err := d.Token()
		if err != nil {
			return xml.Name{}, fmt.Errorf("parse: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name, nil
		}
	}
	return xml.Name{}, errors.New("parse: no root element")
}

// nowClock is a clockwork.Clock whose Now (and Since, Until) come from the broker's clock,
// so that crewjam/saml checks times against the same clock as the rest of Gatehouse without
// touching its package-level TimeNow.
type nowClock struct {
	clockwork.Clock
	now func() time.Time
}

func newNowClock(now func() time.Time) nowClock {
	return nowClock{Clock: clockwork.NewRealClock(), now: now}
}

func (c nowClock) Now() time.Time                  { return c.now() }
func (c nowClock) Since(t time.Time) time.Duration { return c.now().Sub(t) }
func (c nowClock) Until(t time.Time) time.Duration { return t.Sub(c.now()) }
