package examplerp

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
)

// pageInfo is common to every page.
type pageInfo struct {
	Base     string // mount path without trailing slash, e.g. /example
	Issuer   string
	ClientID string
}

// titled is what the "top" template needs.
type titled struct {
	Page  pageInfo
	Title string
}

// failure is the error page's data.
type failure struct {
	Page     pageInfo
	Title    string
	Message  string
	Detail   string
	Provider *providerError
}

func (rp *RP) pageData() pageInfo {
	return pageInfo{Base: rp.basePath, Issuer: rp.issuer, ClientID: rp.clientID}
}

// render executes a template into a buffer first, so a template error never sends half a page.
func (rp *RP) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := rp.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		rp.logger.Error("example RP: render page", "template", name, "err", err)
		http.Error(w, "internal error rendering page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w) //nolint:errcheck // the client went away; nothing to do
}

// fail shows an error page. err's text is shown as a detail: this is a demonstration client
// and its errors come from the provider, not from secrets.
func (rp *RP) fail(w http.ResponseWriter, status int, title, message string, err error) {
	f := failure{Page: rp.pageData(), Title: title, Message: message}
	var pe providerError
	switch {
	case errors.As(err, &pe):
		f.Provider = &pe
	case err != nil:
		f.Detail = err.Error()
	}
	rp.render(w, status, "error", f)
}

func parseTemplates() (*template.Template, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"page": func(p pageInfo, title string) titled { return titled{Page: p, Title: title} },
	}).Parse(templates)
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}
	for _, name := range []string{"index", "result", "error"} {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("template %q missing", name)
		}
	}
	return t, nil
}

const templates = `
{{define "top"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Gatehouse example app</title>
<link rel="stylesheet" href="{{.Page.Base}}/style.css">
</head>
<body>
<main>
<p class="crumb"><a href="{{.Page.Base}}/">Gatehouse example app</a></p>
{{end}}

{{define "bottom"}}
<footer>Client <code>{{.ClientID}}</code> at issuer <code>{{.Issuer}}</code></footer>
</main>
</body>
</html>
{{end}}

{{define "index"}}{{template "top" (page . "Welcome")}}
<h1>Gatehouse example app</h1>
<p>This is a small OpenID Connect client built into Gatehouse. Press the button to log in
through Gatehouse: you will see its login and consent pages, then come back here and see
exactly what an application receives: the ID token's claims, the access token and the
userinfo answer.</p>
<form method="post" action="{{.Base}}/login">
<button type="submit">Log in</button>
</form>
<p class="note">It asks for the scopes <code>openid profile email groups offline_access</code>,
using the authorization code flow with PKCE (S256), state and nonce.</p>
{{template "bottom" .}}{{end}}

{{define "result"}}{{template "top" (page .Page "Logged in")}}
<h1>You are logged in</h1>
{{if .LogoutURL}}<p><a class="button" href="{{.LogoutURL}}">Log out</a></p>
{{else}}<p class="note">The provider advertises no end_session_endpoint, so there is no logout link.</p>{{end}}

<h2>ID token claims</h2>
<pre>{{.IDTokenClaims}}</pre>
<p class="note">Signature, issuer, audience, expiry and nonce verified. at_hash: {{.AtHash}}.</p>

<h2>Access token</h2>
<dl>
<dt>Type</dt><dd>{{.TokenType}}</dd>
{{if .Expiry}}<dt>Expires</dt><dd>{{.Expiry}}</dd>{{end}}
{{if .GrantedScope}}<dt>Granted scope</dt><dd><code>{{.GrantedScope}}</code></dd>{{end}}
<dt>Refresh token</dt><dd>{{if .RefreshToken}}issued (not shown){{else}}not issued{{end}}</dd>
</dl>
<pre class="token">{{.AccessToken}}</pre>

<h2>Userinfo</h2>
{{if .UserInfoError}}<p class="error">The userinfo request failed: {{.UserInfoError}}</p>
{{else}}<pre>{{.UserInfo}}</pre>{{end}}

<details><summary>Raw ID token</summary><pre class="token">{{.IDTokenRaw}}</pre></details>
<p><a href="{{.Page.Base}}/">Start again</a></p>
{{template "bottom" .Page}}{{end}}

{{define "error"}}{{template "top" (page .Page .Title)}}
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{with .Provider}}<dl class="error">
<dt>error</dt><dd><code>{{.Code}}</code></dd>
{{if .Description}}<dt>error_description</dt><dd>{{.Description}}</dd>{{end}}
{{if .URI}}<dt>error_uri</dt><dd>{{.URI}}</dd>{{end}}
</dl>{{end}}
{{if .Detail}}<pre class="error">{{.Detail}}</pre>{{end}}
<p><a class="button" href="{{.Page.Base}}/">Start again</a></p>
{{template "bottom" .Page}}{{end}}
`

const stylesheet = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:52rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
pre{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:.8rem;overflow-x:auto;white-space:pre-wrap}
pre.token{word-break:break-all}
button,.button{display:inline-block;font:inherit;background:#2456d6;color:#fff;border:0;border-radius:6px;padding:.5rem 1.2rem;text-decoration:none;cursor:pointer}
.note,footer,.crumb{color:#5b6475;font-size:.9rem}
.error{color:#a11d2b}
dt{font-weight:600}dd{margin:0 0 .4rem 0}
footer{margin-top:3rem;border-top:1px solid #d8dce3;padding-top:.5rem}
`
