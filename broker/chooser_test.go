package broker_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/discord"
	"github.com/gatehouse-id/gatehouse/connectors/github"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
)

// chooserYAML: the local connector, GitHub with its type's name and icon, Discord named and
// with another icon.
const chooserYAML = `storage: {type: sqlite, config: {file: "{{db}}"}}
connectors:
  - {type: local, id: local, name: Local accounts, config: {cost: 4}}
  - {type: github, id: gh, config: {client_id: a, client_secret: b}}
  - {type: discord, id: chat, name: Team Discord, icon: shield, config: {client_id: a, client_secret: b}}
clients:
  - {id: app, secret: app-secret-0123456789abcdef, redirect_uris: ["http://127.0.0.1:9999/cb"]}
`

func chooserOptions() brokertest.Options {
	return brokertest.Options{YAML: chooserYAML, Registry: func(local.UserSource) connectors.Registry {
		return connectors.Registry{
			"github":  func() connectors.Config { return &github.Config{} },
			"discord": func() connectors.Config { return &discord.Config{} },
		}
	}}
}

var buttonRe = regexp.MustCompile(`<a class="button provider" href="[^"]*" aria-label="([^"]*)"[^>]*>(<svg[^>]*aria-hidden="true"[^>]*>.*?</svg>)<span>([^<]*)</span>(<small class="last-used">)?`)

type button struct {
	label, icon string
	lastUsed    bool
}

func buttons(t *testing.T, body string) []button {
	t.Helper()
	var out []button
	for _, m := range buttonRe.FindAllStringSubmatch(body, -1) {
		if m[1] != m[3] {
			t.Errorf("aria-label %q differs from the visible label %q", m[1], m[3])
		}
		out = append(out, button{label: m[1], icon: m[2], lastUsed: m[4] != ""})
	}
	return out
}

// TestChooserButtons: every button says "Sign in with <name>" (aria-label and text), carries
// an inline icon hidden from screen readers (its type's, or the configured one), a nameless
// connector of a known type gets the type's name, and the connector this browser chose last
// comes first, marked, through a SameSite=Lax cookie that names it.
func TestChooserButtons(t *testing.T) {
	gh := brokertest.New(t, chooserOptions())
	b := gh.Browser()
	authURL, _ := gh.AuthURL("openid")
	p, _ := b.Follow(b.Get(authURL), authURL)
	got := buttons(t, p.Body)
	labels := func(bs []button) []string {
		var l []string
		for _, x := range bs {
			l = append(l, x.label)
		}
		return l
	}
	if want := []string{"Sign in with Local accounts", "Sign in with GitHub", "Sign in with Team Discord"}; !slices.Equal(labels(got), want) {
		t.Fatalf("labels %q, want %q", labels(got), want)
	}
	if got[0].icon == got[1].icon || got[1].icon == got[2].icon || got[0].lastUsed || got[1].lastUsed || got[2].lastUsed {
		t.Fatalf("icons not per type, or a last-used mark without a choice: %+v", got)
	}
	if !strings.Contains(got[2].icon, `d="M12 2 4 5v6`) { // the shield, as configured
		t.Errorf("discord button icon is not the configured shield: %s", got[2].icon)
	}

	// Choose GitHub: a cookie names it; the next chooser lists it first.
	links := brokertest.ChooserLinks(p.Body)
	resp := b.Get(gh.Issuer + links[1])
	var cookie string
	for _, c := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "gh_last_connector=") {
			cookie = c
		}
	}
	for _, want := range []string{"gh_last_connector=gh;", "HttpOnly", "SameSite=Lax", "Max-Age="} {
		if !strings.Contains(cookie, want) {
			t.Errorf("last-connector cookie %q lacks %q", cookie, want)
		}
	}
	authURL2, _ := gh.AuthURL("openid")
	p, _ = b.Follow(b.Get(authURL2), authURL2)
	got = buttons(t, p.Body)
	if want := []string{"Sign in with GitHub", "Sign in with Local accounts", "Sign in with Team Discord"}; !slices.Equal(labels(got), want) || !got[0].lastUsed {
		t.Fatalf("after choosing GitHub: %+v", got)
	}

	// A forged or stale cookie changes nothing.
	for _, v := range []string{"nope", `"><script>`, strings.Repeat("a", 100)} {
		fresh := gh.Browser()
		req, _ := http.NewRequest(http.MethodGet, authURL2, nil)
		req.AddCookie(&http.Cookie{Name: "gh_last_connector", Value: v})
		p, _ := fresh.Follow(fresh.Do(req), authURL2)
		if l := labels(buttons(t, p.Body)); len(l) != 3 || l[0] != "Sign in with Local accounts" || strings.Contains(p.Body, "<script>") {
			t.Errorf("cookie %q: %q", v, l)
		}
	}
}

// TestChooserIconConfig: an icon that is not a built-in one is a configuration error naming
// the key (file:line), at config time.
func TestChooserIconConfig(t *testing.T) {
	for _, tt := range []struct{ icon, want string }{
		{"Bad Icon", `connectors[1].icon: "Bad Icon" is not an icon name`},
		{"nope", `connectors[1].icon: "nope" is not a built-in icon (apple, bitbucket,`},
	} {
		t.Run(tt.icon, func(t *testing.T) {
			y := strings.Replace(chooserYAML, "{type: github, id: gh,", "{type: github, id: gh, icon: \""+tt.icon+"\",", 1)
			cfg, err := config.Parse([]byte(strings.ReplaceAll(y, "{{db}}", t.TempDir()+"/x.db")), "gatehouse.yaml", func(string) string { return "" })
			if err == nil {
				cfg.Issuer = "http://127.0.0.1:1"
				cfg.ApplyDefaults()
				err = cfg.Validate()
			}
			if err == nil {
				err = checkConnectors(t, cfg)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "gatehouse.yaml:4") {
				t.Fatalf("err = %v, want %q at gatehouse.yaml:4", err, tt.want)
			}
		})
	}
}

// checkConnectors decodes the connector blocks as check-config and serve do.
func checkConnectors(t *testing.T, cfg *config.Config) error {
	t.Helper()
	_, err := assembly.DecodeConnectors(cfg, "gatehouse.yaml", func(string) string { return "" }, connectors.Registry{
		"local":   func() connectors.Config { return &local.Config{} },
		"github":  func() connectors.Config { return &github.Config{} },
		"discord": func() connectors.Config { return &discord.Config{} },
	})
	return err
}
