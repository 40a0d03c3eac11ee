package sqlite

import "github.com/gatehouse-id/gatehouse/storage"

// protocolCols holds the values of an auth request's protocol, saml_request and mfa_progress
// columns; saml and mfa are nil (NULL) when the field is nil, else JSON text.
type protocolCols struct {
	protocol  string
	saml, mfa any
}

// encodeProtocol encodes r's Protocol (empty is stored as "oidc"), SAML and MFA.
func encodeProtocol(r storage.AuthRequest) (protocolCols, error) {
	c := protocolCols{protocol: string(r.Protocol)}
	if c.protocol == "" {
		c.protocol = string(storage.ProtocolOIDC)
	}
	if r.SAML != nil {
		text, err := jsonText(r.SAML)
		if err != nil {
			return c, err
		}
		c.saml = text
	}
	if r.MFA != nil {
		text, err := jsonText(r.MFA)
		if err != nil {
			return c, err
		}
		c.mfa = text
	}
	return c, nil
}

// decodeProtocol sets r's Protocol, SAML and MFA from their columns; a NULL (nil) JSON column
// leaves its field nil.
func decodeProtocol(protocol string, samlText, mfaText []byte, r *storage.AuthRequest) error {
	r.Protocol = storage.Protocol(protocol)
	if r.Protocol == "" {
		r.Protocol = storage.ProtocolOIDC
	}
	if samlText != nil {
		r.SAML = new(storage.SAMLRequest)
		if err := fromJSON(samlText, r.SAML); err != nil {
			return err
		}
	}
	if mfaText != nil {
		r.MFA = new(storage.MFAProgress)
		if err := fromJSON(mfaText, r.MFA); err != nil {
			return err
		}
	}
	return nil
}
