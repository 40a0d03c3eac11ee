package broker

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// needsConsent reports whether the user must be asked: not for trusted clients, and not when a
// stored consent already covers the requested scopes (unless prompt=consent).
func (s *Server) needsConsent(r *http.Request, ar storage.AuthRequest, c *clients.Client) (bool, error) {
	if c.Trusted {
		return false, nil
	}
	if slices.Contains(ar.Prompt, "consent") {
		return true, nil
	}
	got, err := s.Storage.GetConsent(r.Context(), ar.Identity.Subject, c.ID)
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
	return false, nil
}

type consentData struct {
	pages.Page
	ClientName, User, Action, ReqID, CSRF string
	Scopes                                []string
}

func displayName(id storage.Identity) string {
	switch {
	case id.Email != "":
		return id.Email
	case id.PreferredUsername != "":
		return id.PreferredUsername
	case id.Name != "":
		return id.Name
	}
	return id.Subject
}

// handleConsentPage shows what the client asks to see.
func (s *Server) handleConsentPage(w http.ResponseWriter, r *http.Request) {
	ar, c, flow, ok := s.loadFlow(w, r)
	if !ok {
		return
	}
	if !ar.LoggedIn {
		s.redirectToLogin(w, r, ar, c)
		return
	}
	d := consentData{
		Page:       s.pages.Page("Allow access?"),
		ClientName: clientName(c), User: displayName(ar.Identity), Action: s.rel("/consent"), ReqID: ar.ID,
		CSRF: session.CSRFToken(flow, "consent:"+ar.ID),
	}
	for _, sc := range ar.Scopes {
		if t := s.Claims.ScopeDescription(sc); t != "" {
			d.Scopes = append(d.Scopes, t)
		}
	}
	if err := s.Templates.Render(w, http.StatusOK, "consent.html", d); err != nil {
		s.Logger.ErrorContext(r.Context(), "render consent", "err", err)
	}
}

// handleConsentSubmit records the user's decision.
func (s *Server) handleConsentSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.pages.Error(w, r, http.StatusBadRequest, "Request refused", "The form could not be read.", "Go back and try again.")
		return
	}
	ar, c, flow, ok := s.loadFlow(w, r)
	if !ok {
		return
	}
	if !s.checkCSRF(w, r, flow, "consent:"+ar.ID) {
		return
	}
	if !ar.LoggedIn {
		s.redirectToLogin(w, r, ar, c)
		return
	}
	switch r.PostFormValue("decision") {
	case "allow":
		now := s.Now().UTC()
		scopes := slices.Clone(ar.Scopes)
		if prev, err := s.Storage.GetConsent(r.Context(), ar.Identity.Subject, c.ID); err == nil {
			for _, sc := range prev.Scopes {
				if !slices.Contains(scopes, sc) {
					scopes = append(scopes, sc)
				}
			}
		}
		err := s.Storage.PutConsent(r.Context(), storage.Consent{Subject: ar.Identity.Subject, ClientID: c.ID, Scopes: scopes, CreatedAt: now, UpdatedAt: now})
		if err != nil {
			s.pages.Internal(w, r, "store consent", err)
			return
		}
		s.Logger.InfoContext(r.Context(), "consent given", "client_id", c.ID, "sub", ar.Identity.Subject, "scopes", ar.Scopes)
		s.finish(w, r, ar)
	case "deny":
		s.dropAuthRequest(r.Context(), ar.ID)
		s.Logger.InfoContext(r.Context(), "consent denied", "client_id", c.ID, "sub", ar.Identity.Subject)
		s.failFlow(w, r, ar, oauth2err.New(oauth2err.AccessDenied, "the user denied access"))
	default:
		s.pages.Error(w, r, http.StatusBadRequest, "Request refused", "The form did not say whether to allow access.", "Go back and press Allow or Deny.")
	}
}
