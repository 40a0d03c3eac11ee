package registration

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/config"
)

// statementAlgorithms are the signature algorithms a software statement may use.
var statementAlgorithms = func() []jose.SignatureAlgorithm {
	var out []jose.SignatureAlgorithm
	for _, a := range clients.AssertionAlgorithms {
		out = append(out, jose.SignatureAlgorithm(a))
	}
	return out
}()

// Statements checks software statements (RFC 7591 2.3) against the configured signers.
type Statements struct {
	Policy config.SoftwareStatement
	Keys   jose.JSONWebKeySet
	Now    func() time.Time
}

// NewStatements parses the policy's keys (validated by config: an error here is a bug).
func NewStatements(p config.SoftwareStatement, now func() time.Time) (*Statements, error) {
	s := &Statements{Policy: p, Now: now}
	if len(p.JWKS) == 0 {
		return s, nil
	}
	set, err := config.ParseClientJWKS(p.JWKS)
	if err != nil {
		return nil, err
	}
	s.Keys = set
	return s, nil
}

func statementErr(code oauth2err.Code, d string) *oauth2err.Error {
	return &oauth2err.Error{Code: code, Description: d}
}

// Apply verifies the request's software statement, when there is one, and lays its claims
// over the request's members (the statement wins, RFC 7591 2.3). A statement that is not a
// signed JWT, or has expired, is invalid_software_statement; one no configured key verifies,
// or from an issuer not listed, is unapproved_software_statement; a missing one when
// required is invalid_software_statement.
func (s *Statements) Apply(_ context.Context, obj map[string]json.RawMessage) error {
	raw, ok := obj["software_statement"]
	if !ok {
		if s.Policy.Required {
			return statementErr(oauth2err.InvalidSoftwareStatement, "a software statement is required")
		}
		return nil
	}
	var compact string
	if err := json.Unmarshal(raw, &compact); err != nil || compact == "" || len(compact) > maxJWKS {
		return statementErr(oauth2err.InvalidSoftwareStatement, "software_statement must be a JWT string")
	}
	jws, err := jose.ParseSignedCompact(compact, statementAlgorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return statementErr(oauth2err.InvalidSoftwareStatement, "software_statement is not a signed JWT")
	}
	payload, err := s.verify(jws)
	if err != nil {
		return err
	}
	claims, err := parseObject(payload)
	if err != nil {
		return statementErr(oauth2err.InvalidSoftwareStatement, "the software statement's claims are not a JSON object")
	}
	if err := s.checkClaims(claims); err != nil {
		return err
	}
	for k, v := range claims {
		if k != "software_statement" && k != "client_id" && k != "client_secret" {
			obj[k] = v
		}
	}
	return nil
}

// verify checks the signature with each configured key that may have made it.
func (s *Statements) verify(jws *jose.JSONWebSignature) ([]byte, error) {
	kid := jws.Signatures[0].Header.KeyID
	for _, k := range s.Keys.Keys {
		if kid != "" && k.KeyID != "" && k.KeyID != kid {
			continue
		}
		if payload, err := jws.Verify(k); err == nil {
			return payload, nil
		}
	}
	return nil, statementErr(oauth2err.UnapprovedSoftwareStatement, "the software statement is not signed by an approved key")
}

// checkClaims checks exp (when present; a statement need not expire), nbf and iss.
func (s *Statements) checkClaims(c map[string]json.RawMessage) error {
	now := s.Now()
	var num float64
	if raw, ok := c["exp"]; ok {
		if json.Unmarshal(raw, &num) != nil || !now.Before(time.Unix(int64(num), 0)) {
			return statementErr(oauth2err.InvalidSoftwareStatement, "the software statement has expired")
		}
	}
	if raw, ok := c["nbf"]; ok {
		if json.Unmarshal(raw, &num) != nil || now.Add(time.Minute).Before(time.Unix(int64(num), 0)) {
			return statementErr(oauth2err.InvalidSoftwareStatement, "the software statement is not valid yet")
		}
	}
	if len(s.Policy.Issuers) > 0 {
		var iss string
		if json.Unmarshal(c["iss"], &iss) != nil || !slices.Contains(s.Policy.Issuers, iss) {
			return statementErr(oauth2err.UnapprovedSoftwareStatement, "the software statement's issuer is not approved")
		}
	}
	return nil
}
