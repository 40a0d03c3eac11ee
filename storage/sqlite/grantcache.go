package sqlite

import (
	"bytes"
	"maps"
	"slices"
	"sync"

	"github.com/gatehouse-id/gatehouse/storage"
)

// maxDecodedGrants bounds the decoded-grant cache (entries are a few hundred bytes).
const maxDecodedGrants = 4096

// decodedGrants caches the JSON decoding of grants' identity and auth columns, keyed by the
// grant ID and checked against the exact column bytes just read. Userinfo, introspection and
// the refresh grant read the grant row every time (a revocation or an identity update by any
// replica is seen at once); only decoding unchanged JSON is saved. Sealed connector data is
// cached as stored (sealed) and opened on every read, so no opened secret is kept.
type decodedGrants struct {
	mu sync.Mutex
	m  map[string]decodedGrant
}

type decodedGrant struct {
	idText, authText []byte
	id               storage.Identity
	auth             storage.Authentication // ConnectorData as stored (sealed or not)
}

// decode fills id and auth from the columns, from the cache when the bytes are those cached.
// What it returns shares nothing with the cache.
func (c *decodedGrants) decode(sl storage.Sealer, grantID string, idText, authText []byte, id *storage.Identity, auth *storage.Authentication) error {
	c.mu.Lock()
	e, ok := c.m[grantID]
	c.mu.Unlock()
	if !ok || !bytes.Equal(e.idText, idText) || !bytes.Equal(e.authText, authText) {
		e = decodedGrant{idText: bytes.Clone(idText), authText: bytes.Clone(authText)}
		if err := fromJSON(idText, &e.id); err != nil {
			return err
		}
		if err := fromJSON(authText, &e.auth); err != nil {
			return err
		}
		e.auth.AuthTime = utcMs(e.auth.AuthTime)
		c.mu.Lock()
		if c.m == nil {
			c.m = map[string]decodedGrant{}
		}
		if _, had := c.m[grantID]; !had && len(c.m) >= maxDecodedGrants {
			for k := range c.m { // evict an arbitrary entry
				delete(c.m, k)
				break
			}
		}
		c.m[grantID] = e
		c.mu.Unlock()
	}
	*id, *auth = copyIdentity(e.id), copyAuth(e.auth)
	return storage.OpenAuth(sl, auth, storage.SealContext("grants", "auth", grantID))
}

// copyIdentity copies id deeply (its slices and the JSON values of Extra).
func copyIdentity(id storage.Identity) storage.Identity {
	id.Groups = slices.Clone(id.Groups)
	if id.Extra != nil {
		id.Extra = copyJSONObject(id.Extra)
	}
	return id
}

// copyAuth copies a deeply.
func copyAuth(a storage.Authentication) storage.Authentication {
	a.AMR = slices.Clone(a.AMR)
	a.ConnectorData = bytes.Clone(a.ConnectorData)
	return a
}

// copyJSONObject copies a decoded JSON object deeply.
func copyJSONObject(m map[string]any) map[string]any {
	out := maps.Clone(m)
	for k, v := range out {
		out[k] = copyJSONValue(v)
	}
	return out
}

// copyJSONValue copies a decoded JSON value deeply (objects and arrays; the rest are values).
func copyJSONValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return copyJSONObject(x)
	case []any:
		out := slices.Clone(x)
		for i, e := range out {
			out[i] = copyJSONValue(e)
		}
		return out
	}
	return v
}
