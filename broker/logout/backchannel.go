package logout

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// LogoutSigner signs logout tokens (tokens.Minter).
type LogoutSigner interface {
	SignLogoutToken(ctx context.Context, t tokens.LogoutToken) (string, error)
}

// DeliveryMetrics counts back-channel logout deliveries (internal/telemetry implements it).
type DeliveryMetrics interface {
	// BackchannelLogout counts one attempt's outcome for a client: "delivered", "retry" (it
	// failed and will be tried again) or "abandoned" (it failed past the maximum age).
	BackchannelLogout(clientID, outcome string)
}

// SubjectMapper maps an internal user ID to the sub a client sees (pairwise for pairwise
// clients; claims.Normalizer implements it).
type SubjectMapper interface {
	SubjectFor(clientID, sub string) string
}

// Deliverer delivers the back-channel logout queue (storage.LogoutStore): it claims due
// deliveries atomically (so two replicas never both deliver one), signs a fresh logout token
// for each, POSTs it, and completes it on a 2xx answer; otherwise it tries again later with
// exponential backoff until MaxAge, then gives up with a log line and a metric. A client
// that keeps failing never blocks a user: logout only enqueues.
type Deliverer struct {
	Queue    storage.LogoutStore
	Signer   LogoutSigner
	Subjects SubjectMapper
	// HTTP posts the tokens; it must not follow redirects and must have a timeout (New
	// fills in a bounded client when nil).
	HTTP    *http.Client
	Logger  *slog.Logger
	Now     func() time.Time
	Metrics DeliveryMetrics // nil: none
	// Lease is how long a claim holds a delivery (longer than HTTP's timeout).
	Lease time.Duration
	// MaxAge is how long after the logout a delivery is still tried.
	MaxAge time.Duration
	// Backoff is the wait after the first failed attempt; it doubles up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// TokenLifetime is the exp of each logout token (short: it is used at once).
	TokenLifetime time.Duration
	// Batch is how many deliveries one round claims (and posts concurrently).
	Batch int

	claimOnce sync.Once
	claim     string
}

// Delivery defaults.
const (
	DefaultLease         = time.Minute
	DefaultMaxAge        = 24 * time.Hour
	DefaultBackoff       = 5 * time.Second
	DefaultMaxBackoff    = 10 * time.Minute
	DefaultTokenLifetime = 2 * time.Minute
	DefaultBatch         = 16
	// deliveryTimeout bounds one POST to a client.
	deliveryTimeout = 10 * time.Second
	// maxAnswer is how much of a client's answer is read (and discarded).
	maxAnswer = 4 << 10
)

// NewDeliveryClient returns the HTTP client for logout tokens: a timeout, no redirects
// followed (a redirect is a failed delivery), no cookies.
func NewDeliveryClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = deliveryTimeout
	tr.MaxResponseHeaderBytes = 16 << 10
	return &http.Client{Transport: tr, Timeout: deliveryTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// defaults fills in unset fields.
func (d *Deliverer) defaults() {
	d.claimOnce.Do(func() {
		d.claim = opaque.ID()
		if d.HTTP == nil {
			d.HTTP = NewDeliveryClient()
		}
		if d.Now == nil {
			d.Now = time.Now
		}
		if d.Logger == nil {
			d.Logger = slog.New(slog.DiscardHandler)
		}
		for _, f := range []struct {
			v   *time.Duration
			def time.Duration
		}{{&d.Lease, DefaultLease}, {&d.MaxAge, DefaultMaxAge}, {&d.Backoff, DefaultBackoff},
			{&d.MaxBackoff, DefaultMaxBackoff}, {&d.TokenLifetime, DefaultTokenLifetime}} {
			if *f.v <= 0 {
				*f.v = f.def
			}
		}
		if d.Batch <= 0 {
			d.Batch = DefaultBatch
		}
	})
}

// Run delivers due deliveries every interval until ctx ends (rounds follow each other at
// once while they find work).
func (d *Deliverer) Run(ctx context.Context, interval time.Duration) {
	d.defaults()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := d.RunOnce(ctx)
			if err != nil {
				d.Logger.WarnContext(ctx, "back-channel logout: claiming deliveries failed", "err", err)
			}
			if err != nil || n == 0 || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce claims one batch of due deliveries and attempts each (concurrently); it reports
// how many it claimed.
func (d *Deliverer) RunOnce(ctx context.Context) (int, error) {
	d.defaults()
	ds, err := d.Queue.ClaimLogouts(ctx, d.claim, d.Now().UTC(), d.Lease, d.Batch)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, del := range ds {
		wg.Go(func() { d.attempt(ctx, del) })
	}
	wg.Wait()
	return len(ds), nil
}

// attempt delivers one logout token and records the outcome in the queue.
func (d *Deliverer) attempt(ctx context.Context, del storage.LogoutDelivery) {
	err := d.post(ctx, del)
	now := d.Now().UTC()
	log := d.Logger.With("client_id", del.ClientID, "attempts", del.Attempts+1)
	// The outcome is recorded even when ctx ends meanwhile (shutdown): a delivered token
	// left uncompleted would be sent again once the claim lapses.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch {
	case err == nil:
		if cerr := d.Queue.CompleteLogout(ctx, del.ID, d.claim); cerr != nil {
			log.WarnContext(ctx, "back-channel logout delivered, but not marked done (it may be delivered again)", "err", cerr)
		}
		d.count(del.ClientID, "delivered")
		log.InfoContext(ctx, "back-channel logout delivered")
	case now.Sub(del.CreatedAt) >= d.MaxAge:
		log.ErrorContext(ctx, "back-channel logout abandoned: the client kept failing", "err", err, "since", del.CreatedAt)
		if cerr := d.Queue.CompleteLogout(ctx, del.ID, d.claim); cerr != nil {
			log.WarnContext(ctx, "back-channel logout: dropping an abandoned delivery failed", "err", cerr)
		}
		d.count(del.ClientID, "abandoned")
	default:
		next := now.Add(d.backoff(del.Attempts))
		if rerr := d.Queue.RetryLogout(ctx, del.ID, d.claim, next, truncate(err.Error(), 500)); rerr != nil {
			log.WarnContext(ctx, "back-channel logout: scheduling a retry failed (retried when the claim lapses)", "err", rerr)
		}
		d.count(del.ClientID, "retry")
		log.WarnContext(ctx, "back-channel logout failed; will retry", "err", err, "next_attempt", next)
	}
}

// backoff is the wait after the attempts+1-th failure: Backoff doubled per earlier failure,
// at most MaxBackoff.
func (d *Deliverer) backoff(attempts int) time.Duration {
	b := d.Backoff
	for range min(attempts, 30) {
		b *= 2
		if b >= d.MaxBackoff {
			return d.MaxBackoff
		}
	}
	return min(b, d.MaxBackoff)
}

// post signs the logout token and POSTs it form-encoded; only a 2xx answer is a delivery.
func (d *Deliverer) post(ctx context.Context, del storage.LogoutDelivery) error {
	sub := del.Subject
	if d.Subjects != nil {
		sub = d.Subjects.SubjectFor(del.ClientID, del.Subject)
	}
	tok, err := d.Signer.SignLogoutToken(ctx, tokens.LogoutToken{ID: opaque.ID(), Audience: del.ClientID,
		Subject: sub, SessionID: del.SessionID, Expiry: d.Now().Add(d.TokenLifetime)})
	if err != nil {
		return fmt.Errorf("sign logout token: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, del.URI, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cache-Control", "no-store")
	resp, err := d.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("post logout token: %w", err)
	}
	defer resp.Body.Close()                                          //nolint:errcheck // the answer was read (bounded) below
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer)) //nolint:errcheck // the body is not used; only the status counts
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("client answered %s", resp.Status)
	}
	return nil
}

func (d *Deliverer) count(clientID, outcome string) {
	if d.Metrics != nil {
		d.Metrics.BackchannelLogout(clientID, outcome)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
