package authflow

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/web"
)

// continueToConsent checks the client's requirements and goes to the consent step (which
// may finish at once).
func (f *Flow) continueToConsent(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client) {
	if f.wrongSubject(ar, c.ID, ar.Identity) {
		// OIDC Core 5.5.1: never a token for another user than the sub the client asked for.
		f.fail(w, r, ar, oauth2err.New(oauth2err.AccessDenied, "the signed-in user is not the one the client asked for (claims sub value)"))
		return
	}
	// The client's own requirements (claims: clients[].require), after every login and for SSO sessions.
	var denied *connectors.DeniedError
	if err := f.Claims.AuthorizeClient(c.ID, ar.Identity); errors.As(err, &denied) {
		if slices.Contains(ar.Prompt, "none") {
			f.fail(w, r, ar, oauth2err.New(oauth2err.AccessDenied, denied.Reason))
			return
		}
		f.deny(w, r, ar, denied.Reason)
		return
	}
	needs, err := f.needsConsent(r, ar, c)
	if err != nil {
		f.fail(w, r, ar, oauth2err.Server(err))
		return
	}
	if !needs {
		f.finish(w, r, ar)
		return
	}
	if slices.Contains(ar.Prompt, "none") {
		f.fail(w, r, ar, oauth2err.New(oauth2err.ConsentRequired, "the user has not consented to this client"))
		return
	}
	http.Redirect(w, r, f.rel("/consent?req="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
}

// needsConsent reports whether the user must be asked: not for trusted clients, and not when a
// stored consent already covers the requested scopes (unless prompt=consent).
func (f *Flow) needsConsent(r *http.Request, ar storage.AuthRequest, c *clients.Client) (bool, error) {
	if c.Trusted {
		return false, nil
	}
	if slices.Contains(ar.Prompt, "consent") {
		return true, nil
	}
	got, err := f.Store.GetConsent(r.Context(), ar.Identity.Subject, c.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, sc := range ar.Scopes {
		if !slices.Contains(got.Scopes, sc) {
			return true, nil
		}
	}
	for _, cl := range f.individualClaims(ar, c) { // a stored consent covers only the claims it named
		if !slices.Contains(got.Claims, cl) {
			return true, nil
		}
	}
	return false, nil
}

type consentData struct {
	pages.Page
	ClientName, User, Action, ReqID, CSRF string
	Scopes                                []any
}

// clientName is how the pages name the client.
func clientName(c *clients.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// handleConsentPage shows what the client asks to see.
func (f *Flow) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	ar, c, flow, ok := f.loadFlow(w, r)
	if !ok {
		return
	}
	if !ar.LoggedIn {
		f.redirectToLogin(w, r, ar, c)
		return
	}
	d := consentData{
		Page:       f.Pages.Page("Allow access?"),
		ClientName: clientName(c), User: ar.Identity.DisplayName(), Action: f.rel("/consent"), ReqID: ar.ID,
		CSRF: session.CSRFToken(flow, "consent:"+ar.ID),
	}
	d.Scopes = f.consentTexts(ar, c)
	f.render(w, r, http.StatusOK, "consent.html", "consent", d)
}

// consentTexts are the consent page's lines for what the client asks: each a text of the
// catalog, or a *web.Message for a custom scope or claim ("Your <claims>"), each once.
func (f *Flow) consentTexts(ar storage.AuthRequest, c *clients.Client) []any {
	var out []any
	seen := map[string]bool{}
	add := func(key string, t any) {
		if !seen[key] {
			seen[key] = true
			out = append(out, t)
		}
	}
	for _, sc := range ar.Scopes {
		if cls := f.Claims.CustomScopeClaims(sc); len(cls) > 0 {
			add("scope:"+sc, web.Msg("consent.your_claims", "Claims", strings.Join(cls, ", ")))
		} else if t := f.Claims.ScopeDescription(sc); t != "" {
			add(t, t)
		}
	}
	for _, cl := range f.individualClaims(ar, c) { // asked for individually (claims parameter)
		if f.Claims.KnownClaim(cl) {
			t := f.Claims.ClaimDescription(cl)
			add(t, t)
		} else {
			add("claim:"+cl, web.Msg("consent.your_claim", "Claim", strings.ReplaceAll(cl, "_", " ")))
		}
	}
	return out
}

// handleConsentSubmit records the user's decision.
func (f *Flow) handleConsentSubmit(w http.ResponseWriter, r *http.Request) {
	if !f.readForm(w, r) {
		return
	}
	ar, c, flow, ok := f.loadFlow(w, r)
	if !ok {
		return
	}
	if !f.checkCSRF(w, r, flow, "consent:"+ar.ID) {
		return
	}
	if !ar.LoggedIn {
		f.redirectToLogin(w, r, ar, c)
		return
	}
	switch r.PostFormValue("decision") {
	case "allow":
		now := f.Now().UTC()
		asked := f.individualClaims(ar, c)
		scopes, individual := slices.Clone(ar.Scopes), slices.Clone(asked)
		prev, err := f.Store.GetConsent(r.Context(), ar.Identity.Subject, c.ID)
		switch {
		case err == nil:
			scopes, individual = union(scopes, prev.Scopes), union(individual, prev.Claims)
		case !errors.Is(err, storage.ErrNotFound):
			f.Pages.Internal(w, r, "read consent", err)
			return
		}
		err = f.Store.PutConsent(r.Context(), storage.Consent{Subject: ar.Identity.Subject, ClientID: c.ID, Scopes: scopes,
			Claims: individual, CreatedAt: now, UpdatedAt: now})
		if err != nil {
			f.Pages.Internal(w, r, "store consent", err)
			return
		}
		f.Logger.InfoContext(r.Context(), "consent given", "client_id", c.ID, "sub", ar.Identity.Subject, "scopes", ar.Scopes, "claims", asked)
		detail := map[string]string{"scope": strings.Join(ar.Scopes, " ")}
		if len(asked) > 0 {
			detail["claims"] = strings.Join(asked, " ") // asked for individually (claims parameter)
		}
		f.record(r, ar, audit.Event{Type: audit.ConsentGiven, Outcome: audit.OutcomeSuccess, User: ar.Identity.Subject, Detail: detail})
		f.finish(w, r, ar)
	case "deny":
		f.Logger.InfoContext(r.Context(), "consent denied", "client_id", c.ID, "sub", ar.Identity.Subject)
		f.fail(w, r, ar, oauth2err.New(oauth2err.AccessDenied, "the user denied access"))
	default:
		f.Pages.Error(w, r, http.StatusBadRequest, "Request refused", "The form did not say whether to allow access.", "Go back and press Allow or Deny.")
	}
}

// union appends to a the elements of b it lacks.
func union(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}
