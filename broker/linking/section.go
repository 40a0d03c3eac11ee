package linking

import (
	"html/template"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/web"
)

// loginRow is one linked login in the section.
type loginRow struct {
	ID, Name, Added string
	Icon            template.HTML
	// Current: the login this session signed in with.
	Current bool
}

// connectorRow is a connector the user may link.
type connectorRow struct {
	ID, Name string
	Icon     template.HTML
}

// SectionData is the data of the account_logins template (the section of the account page).
type SectionData struct {
	Logins    []loginRow
	Linkable  []connectorRow
	CSRF      string
	Link      string
	Unlink    string
	CanUnlink bool
	Locked    bool
	// Notice is the message ID of the outcome the user returns with (?logins=).
	Notice string
}

// notices are the section's outcome messages by the ?logins= value.
var notices = map[string]string{
	"linked":   "links.notice.linked",
	"already":  "links.notice.already",
	"unlinked": "links.notice.unlinked",
}

// AccountSection returns the section's data for the signed-in session: its linked logins
// (the session's own marked) with an unlink form while more than one remains, and a link
// form per configured connector that is up and not linked yet. flow is the browser's flow
// secret (the forms' CSRF tokens are bound to it and the session).
func (h *Handler) AccountSection(r *http.Request, sess storage.Session, flow string) (any, error) {
	ctx := r.Context()
	links, err := h.Links.ListUserLinks(ctx, sess.Identity.Subject)
	if err != nil {
		return nil, err
	}
	d := SectionData{CSRF: session.CSRFToken(flow, csrfPurpose(sess)), Link: h.Pages.Rel("/account/logins/link"),
		Unlink: h.Pages.Rel("/account/logins/unlink"), Notice: notices[r.URL.Query().Get("logins")]}
	if h.Locked != nil {
		if d.Locked, err = h.Locked(ctx, sess); err != nil {
			return nil, err
		}
	}
	countable := h.countable()
	counted := 0
	for _, l := range links {
		cn, ok := h.Connectors.Get(l.ConnectorID)
		if !ok {
			continue // a removed connector's link signs no one in: not shown
		}
		counted++
		d.Logins = append(d.Logins, loginRow{
			ID: linkID(l), Name: cn.Info.Name, Added: l.CreatedAt.Format("2 Jan 2006"), Icon: web.IconFor(cn.Info.Type, cn.Info.Icon),
			Current: l.ConnectorID == sess.Auth.ConnectorID && l.UpstreamSubject == sess.Auth.UpstreamSubject,
		})
	}
	d.CanUnlink = counted > 1 && len(countable) > 0
	for _, cn := range h.Connectors.All() {
		linked := slices.ContainsFunc(links, func(l storage.UserLink) bool { return l.ConnectorID == cn.Info.ID })
		if linked || !cn.Up() {
			continue
		}
		d.Linkable = append(d.Linkable, connectorRow{ID: cn.Info.ID, Name: cn.Info.Name, Icon: web.IconFor(cn.Info.Type, cn.Info.Icon)})
	}
	return d, nil
}
