package assembly

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/broker/forwardauth"
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// NewMFA builds the broker's MFA step from the configuration, on the clock now (nil:
// time.Now); nil when no connector or client uses MFA and WebAuthn is not configured.
func NewMFA(cfg *config.Config, store storage.Storage, now func() time.Time, logger *slog.Logger) (*broker.MFA, error) {
	if now == nil {
		now = time.Now
	}
	if !cfg.UsesMFA() {
		return nil, nil
	}
	ms, ok := store.(storage.MFAStore)
	if !ok {
		return nil, fmt.Errorf("mfa: the %s storage backend does not support second factors yet", cfg.Storage.Type)
	}
	wa := mfa.WebAuthnOptions{RPID: cfg.MFA.WebAuthn.RPID, RPName: cfg.MFA.WebAuthn.RPName, Origins: cfg.MFA.WebAuthn.Origins}
	u, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("mfa: issuer: %w", err)
	}
	if wa.RPID == "" && cfg.UsesPasskeys() { // passkeys: WebAuthn on the issuer's host
		wa.RPID = u.Hostname()
	}
	if wa.RPID != "" && len(wa.Origins) == 0 {
		wa.Origins = []string{u.Scheme + "://" + u.Host}
	}
	if wa.RPName == "" {
		wa.RPName = cfg.MFA.IssuerName
	}
	sealing, _ := store.(storage.SealingStore) // secrets.keys: the store seals TOTP secrets itself
	svc, err := mfa.New(mfa.Options{Store: ms, IssuerName: cfg.MFA.IssuerName, SecretsKey: cfg.MFA.SecretsKey, WebAuthn: wa, Now: now, Logger: logger,
		StoreSeals: sealing != nil && sealing.Seals()})
	if err != nil {
		return nil, err
	}
	m := &broker.MFA{Service: svc, Connectors: map[string]broker.MFAConnector{}, Clients: map[string]mfa.Policy{}}
	for _, c := range cfg.Connectors {
		p, err := mfa.ParsePolicy(c.MFA)
		if err != nil {
			return nil, fmt.Errorf("connector %s: %w", c.ID, err)
		}
		m.Connectors[c.ID] = broker.MFAConnector{Policy: p, Passkeys: c.Passkeys.Enabled}
	}
	for _, c := range cfg.Clients {
		p, err := mfa.ParsePolicy(c.MFA)
		if err != nil {
			return nil, fmt.Errorf("client %s: %w", c.ID, err)
		}
		m.Clients[c.ID] = p
	}
	for _, sp := range cfg.ServiceProviders {
		p, err := mfa.ParsePolicy(sp.MFA)
		if err != nil {
			return nil, fmt.Errorf("service provider %s: %w", sp.ID, err)
		}
		m.Clients[samlidp.ClientID(sp.ID)] = p
	}
	for _, app := range cfg.ProtectedApps {
		p, err := mfa.ParsePolicy(app.MFA)
		if err != nil {
			return nil, fmt.Errorf("protected app %s: %w", app.ID, err)
		}
		m.Clients[forwardauth.ClientID(app.ID)] = p
	}
	return m, nil
}

// gcMFA forgets used TOTP time steps once they are out of every code's window.
func gcMFA(ctx context.Context, store storage.Storage, logger *slog.Logger) {
	ms, ok := store.(storage.MFAStore)
	if !ok {
		return
	}
	if _, err := ms.GCMFA(ctx, time.Now().UTC()); err != nil {
		logger.WarnContext(ctx, "mfa garbage collection failed", "err", err)
	}
}
