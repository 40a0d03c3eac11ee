package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// ms encodes a time as unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMs decodes ms.
func fromMs(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// utcMs normalizes a time held inside a JSON column the way columns are normalized.
func utcMs(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return fromMs(t.UnixMilli())
}

// jsonText encodes v as JSON text.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("postgres: encode %T: %w", v, err)
	}
	return string(b), nil
}

// fromJSON decodes JSON text into v.
func fromJSON(text string, v any) error {
	if err := json.Unmarshal([]byte(text), v); err != nil {
		return fmt.Errorf("postgres: decode %T: %w", v, err)
	}
	return nil
}

// encoded holds the JSON columns shared by several tables.
type encoded struct {
	identity, auth string
}

// encodeIdentityAuth encodes an Identity and Authentication (AuthTime normalized to UTC ms),
// the connector data sealed for context (storage.SealContext) when sl is not nil.
func encodeIdentityAuth(sl storage.Sealer, context string, id storage.Identity, a storage.Authentication) (encoded, error) {
	a.AuthTime = utcMs(a.AuthTime)
	a, err := storage.SealAuth(sl, a, context)
	if err != nil {
		return encoded{}, err
	}
	i, err := jsonText(id)
	if err != nil {
		return encoded{}, err
	}
	au, err := jsonText(a)
	if err != nil {
		return encoded{}, err
	}
	return encoded{identity: i, auth: au}, nil
}

// decodeIdentityAuth decodes what encodeIdentityAuth produced for the same context.
func decodeIdentityAuth(sl storage.Sealer, context string, idText, authText string, id *storage.Identity, a *storage.Authentication) error {
	if err := fromJSON(idText, id); err != nil {
		return err
	}
	if err := fromJSON(authText, a); err != nil {
		return err
	}
	a.AuthTime = utcMs(a.AuthTime)
	return storage.OpenAuth(sl, a, context)
}

// decodeStrings decodes a JSON string slice.
func decodeStrings(text string) ([]string, error) {
	var v []string
	if err := fromJSON(text, &v); err != nil {
		return nil, err
	}
	return v, nil
}
