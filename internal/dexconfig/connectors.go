package dexconfig

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// connectorConverters convert one Dex connector type's config block; each reads the keys it
// converts and notes the others.
func connectorConverters() map[string]func(c *converter, in *dmap, out *yaml.Node) {
	return map[string]func(c *converter, in *dmap, out *yaml.Node){
		"ldap":      ldapConfig,
		"saml":      samlConfig,
		"oidc":      oidcConfig,
		"github":    githubConfig,
		"gitlab":    gitlabConfig,
		"google":    googleConfig,
		"microsoft": microsoftConfig,
		"oauth":     oauthConfig,
	}
}

// connector converts one entry of Dex's connectors list, or returns nil (with a note) for a
// type Gatehouse has no converter for.
func (c *converter) connector(cn *dmap) *yaml.Node {
	typ, id, name := cn.str("type"), cn.str("id"), cn.str("name")
	conv, ok := connectorConverters()[typ]
	if !ok {
		cn.node("config")
		c.note("%s (type %q, id %q) is not converted: the importer converts ldap, saml, oidc, github, gitlab, google, microsoft and oauth; configure it by hand (docs/connectors/)", cn.path, typ, id)
		c.notConverted(cn, "no Gatehouse equivalent")
		return nil
	}
	ghType := typ
	if typ == "oauth" {
		ghType = "oauth2"
	}
	out := mapping()
	put(out, "type", strNode(ghType))
	putStr(out, "id", id)
	if name == "" {
		name = id
	}
	putStr(out, "name", name)
	in := cn.sub("config")
	cfg := mapping()
	if in.present("redirectURI") {
		in.used["redirectURI"] = true
		out.Content[0].HeadComment = "dex: config.redirectURI is not needed: the callback is " + callbackOf(ghType, id) + "; register it with the upstream"
	}
	conv(c, in, cfg)
	for _, k := range in.unread() {
		c.note("%s is not converted: no Gatehouse equivalent (docs/connectors/%s.md)", join(in.path, k), ghType)
	}
	put(out, "config", cfg)
	c.notConverted(cn, "no Gatehouse equivalent")
	return out
}

// callbackOf is the callback URL of a Gatehouse connector, under the issuer.
func callbackOf(typ, id string) string {
	if typ == "saml" {
		return "{issuer}/saml/sp/" + id + "/acs"
	}
	return "{issuer}/callback/" + id
}

// copyStr copies Dex keys to Gatehouse keys, pairwise: dexKey, ghKey, dexKey, ghKey, ...
func copyStr(in *dmap, out *yaml.Node, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		putStr(out, pairs[i+1], in.str(pairs[i]))
	}
}

// copyBool copies true booleans, pairwise like copyStr.
func copyBool(in *dmap, out *yaml.Node, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if in.boolean(pairs[i]) {
			put(out, pairs[i+1], boolNode(true))
		}
	}
}

// copyList copies lists, pairwise like copyStr.
func copyList(in *dmap, out *yaml.Node, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if l := in.list(pairs[i]); len(l) > 0 {
			put(out, pairs[i+1], listNode(l))
		}
	}
}

func ldapConfig(c *converter, in *dmap, out *yaml.Node) {
	copyStr(in, out, "host", "host", "rootCA", "root_ca", "rootCAData", "root_ca_data", "clientCert", "client_cert", "clientKey", "client_key",
		"bindDN", "bind_dn", "bindPW", "bind_password", "usernamePrompt", "username_prompt")
	copyBool(in, out, "startTLS", "start_tls", "insecureNoSSL", "insecure_no_tls", "insecureSkipVerify", "insecure_skip_verify")
	us := in.sub("userSearch")
	uo := mapping()
	copyStr(us, uo, "baseDN", "base_dn", "filter", "filter")
	copyList(us, uo, "username", "username")
	copyStr(us, uo, "idAttr", "id_attr", "emailAttr", "email_attr", "nameAttr", "name_attr", "preferredUsernameAttr", "preferred_username_attr")
	if s := us.str("emailSuffix"); s != "" {
		c.note("%s.emailSuffix %q is not converted: write a claims rule instead (connectors[].claims.map.email: \"username + '%s'\", docs/cel.md)", us.path, s, "@"+strings.TrimPrefix(s, "@"))
	}
	if us.str("scope") != "" && us.str("scope") != "sub" {
		c.note("%s.scope %q is not converted: Gatehouse searches the subtree", us.path, us.str("scope"))
	}
	c.notConverted(us, "no Gatehouse equivalent")
	put(out, "user_search", uo, "Dex's idAttr (often uid or DN) is the upstream subject; keep the same attribute so linked accounts stay one account")
	gs := in.sub("groupSearch")
	if !gs.present("baseDN") {
		c.notConverted(gs, "no group search without baseDN")
		return
	}
	gout := mapping()
	copyStr(gs, gout, "baseDN", "base_dn", "filter", "filter", "nameAttr", "name_attr")
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	addMatcher := func(u, g string) {
		if u == "" || g == "" {
			return
		}
		m := mapping()
		m.Style = yaml.FlowStyle
		put(m, "user_attr", strNode(u))
		put(m, "group_attr", strNode(g))
		seq.Content = append(seq.Content, m)
	}
	addMatcher(gs.str("userAttr"), gs.str("groupAttr")) // Dex's older single matcher
	for _, m := range gs.items("userMatchers") {
		addMatcher(m.str("userAttr"), m.str("groupAttr"))
		c.notConverted(m, "no Gatehouse equivalent")
	}
	if len(seq.Content) > 0 {
		put(gout, "user_matchers", seq)
	}
	if gs.str("scope") != "" && gs.str("scope") != "sub" {
		c.note("%s.scope %q is not converted: Gatehouse searches the subtree", gs.path, gs.str("scope"))
	}
	c.notConverted(gs, "no Gatehouse equivalent")
	put(out, "group_search", gout)
}

func samlConfig(c *converter, in *dmap, out *yaml.Node) {
	copyStr(in, out, "ssoURL", "idp_sso_url", "ssoIssuer", "idp_entity_id", "entityIssuer", "entity_id", "nameIDPolicyFormat", "name_id_format")
	var certs []string
	if ca := in.str("ca"); ca != "" {
		certs = append(certs, ca)
	}
	if d := in.str("caData"); d != "" {
		certs = append(certs, d)
		c.note("%s.caData: Dex took base64 PEM; Gatehouse's idp_certs takes the PEM itself or a file: decode it if check-config refuses it", in.path)
	}
	if len(certs) > 0 {
		put(out, "idp_certs", listNode(certs))
	}
	attrs := mapping()
	copyStr(in, attrs, "usernameAttr", "username", "emailAttr", "email", "groupsAttr", "groups")
	if len(attrs.Content) > 0 {
		put(out, "attributes", attrs)
	}
	notes := map[string]string{
		"groupsDelim":                     "split the groups attribute with a claims rule (docs/cel.md)",
		"allowedGroups":                   "require groups with connectors[].claims.require.groups",
		"filterGroups":                    "filter groups with connectors[].claims.groups.allow",
		"insecureSkipSignatureValidation": "Gatehouse always checks signatures",
	}
	for _, k := range sortedKeys(notes) {
		if in.present(k) {
			in.used[k] = true
			c.note("%s.%s is not converted: %s", in.path, k, notes[k])
		}
	}
	if !in.present("ssoIssuer") {
		put(out, "idp_entity_id", strNode("https://idp.example.com/metadata"),
			"Dex's ssoIssuer was not set: Gatehouse needs the IdP's entity ID (idp_entity_id, or idp_metadata_url instead of the three idp_ keys); replace this placeholder")
	}
}

func oidcConfig(c *converter, in *dmap, out *yaml.Node) {
	copyStr(in, out, "issuer", "issuer", "clientID", "client_id", "clientSecret", "client_secret",
		"userIDKey", "user_id_claim", "userNameKey", "username_claim")
	copyList(in, out, "scopes", "scopes", "hostedDomains", "allowed_domains")
	copyBool(in, out, "insecureSkipEmailVerified", "insecure_skip_email_verified", "getUserInfo", "get_userinfo")
	if p := in.str("promptType"); p != "" {
		putStr(out, "prompt", p)
	}
	cm := in.sub("claimMapping")
	if g := cm.str("groups"); g != "" {
		putStr(out, "groups_claim", g)
	} else if in.boolean("insecureEnableGroups") {
		putStr(out, "groups_claim", "groups", "Dex's insecureEnableGroups: the upstream's groups claim is used")
	}
	for _, k := range []string{"email", "preferred_username"} {
		if v := cm.str(k); v != "" {
			c.note("%s.%s %q is not converted: map it with connectors[].claims.map (docs/cel.md)", cm.path, k, v)
		}
	}
	c.notConverted(cm, "no Gatehouse equivalent")
	if in.boolean("basicAuthUnsupported") {
		c.note("%s.basicAuthUnsupported: Gatehouse follows the provider's discovery document (token_endpoint_auth_methods_supported)", in.path)
	}
}

func githubConfig(c *converter, in *dmap, out *yaml.Node) {
	copyStr(in, out, "clientID", "client_id", "clientSecret", "client_secret", "teamNameField", "team_name_field")
	if h := in.str("hostName"); h != "" {
		putStr(out, "base_url", "https://"+h, "GitHub Enterprise: Dex's hostName")
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, o := range in.items("orgs") {
		m := mapping()
		putStr(m, "name", o.str("name"))
		if t := o.list("teams"); len(t) > 0 {
			put(m, "teams", listNode(t))
		}
		c.notConverted(o, "no Gatehouse equivalent")
		seq.Content = append(seq.Content, m)
	}
	if org := in.str("org"); org != "" {
		m := mapping()
		putStr(m, "name", org)
		seq.Content = append(seq.Content, m)
	}
	if len(seq.Content) > 0 {
		put(out, "orgs", seq, "only members of these organizations (and teams) sign in, as in Dex")
	}
	if in.boolean("loadAllGroups") {
		c.note("%s.loadAllGroups: Gatehouse reports the teams of the listed orgs (every team without orgs)", in.path)
	}
	if in.boolean("useLoginAsID") {
		c.note("%s.useLoginAsID is not converted: Gatehouse's upstream subject is the numeric GitHub user ID (stable across renames)", in.path)
	}
}

func gitlabConfig(c *converter, in *dmap, out *yaml.Node) {
	copyStr(in, out, "baseURL", "base_url", "clientID", "client_id", "clientSecret", "client_secret")
	copyList(in, out, "groups", "groups")
	copyBool(in, out, "useLoginAsID", "use_login_as_id")
	if in.boolean("getGroupsPermission") {
		c.note("%s.getGroupsPermission is not converted: Gatehouse reports group paths without the permission suffix", in.path)
	}
}

func googleConfig(c *converter, in *dmap, out *yaml.Node) {
	copyStr(in, out, "clientID", "client_id", "clientSecret", "client_secret", "serviceAccountFilePath", "service_account_file", "adminEmail", "admin_email")
	copyList(in, out, "hostedDomains", "hosted_domains", "groups", "groups", "scopes", "scopes")
	dm := in.sub("domainToAdminEmail")
	for _, k := range dm.keys {
		if !hasKey(out, "admin_email") {
			putStr(out, "admin_email", dm.str(k), fmt.Sprintf("Dex's domainToAdminEmail[%s]; Gatehouse impersonates one admin", k))
		}
	}
	c.notConverted(dm, "Gatehouse impersonates one admin (admin_email)")
	if in.present("promptType") {
		in.used["promptType"] = true
		c.note("%s.promptType is not converted: Gatehouse passes the client's prompt", in.path)
	}
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

func microsoftConfig(c *converter, in *dmap, out *yaml.Node) {
	copyStr(in, out, "clientID", "client_id", "clientSecret", "client_secret", "tenant", "tenant")
	groups, format := in.list("groups"), in.str("groupNameFormat")
	switch {
	case len(groups) == 0:
		putStr(out, "group_name_format", format)
	case format == "id":
		put(out, "group_name_format", strNode("id"))
		put(out, "groups", listNode(groups))
	case guidRe.MatchString(in.str("tenant")):
		put(out, "group_name_format", strNode("name"), "Dex's default is name; Gatehouse's is id (object IDs)")
		put(out, "groups", listNode(groups))
	default:
		c.note("%s.groups %v is not converted: Gatehouse trusts group display names only with tenant set to one tenant ID (GUID), as anyone can name a group in another tenant; set tenant, then groups and group_name_format: name (or list group object IDs)", in.path, groups)
	}
	notes := map[string]string{
		"onlySecurityGroups":   "Gatehouse reports the groups Microsoft Graph returns; filter with connectors[].claims.groups",
		"useGroupsAsWhitelist": "require groups with connectors[].claims.require.groups",
		"emailToLowercase":     "lower-case the email with connectors[].claims.map (docs/cel.md)",
		"promptType":           "Gatehouse passes the client's prompt",
		"domainHint":           "Gatehouse passes login_hint",
		"scopes":               "Gatehouse asks for the scopes it needs",
	}
	for _, k := range sortedKeys(notes) {
		if in.present(k) {
			in.used[k] = true
			c.note("%s.%s is not converted: %s", in.path, k, notes[k])
		}
	}
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func oauthConfig(c *converter, in *dmap, out *yaml.Node) {
	copyStr(in, out, "authorizationURL", "authorization_url", "tokenURL", "token_url", "userInfoURL", "userinfo_url",
		"clientID", "client_id", "clientSecret", "client_secret")
	copyList(in, out, "scopes", "scopes")
	claims := mapping()
	copyStr(in, claims, "userIDKey", "user_id")
	cm := in.sub("claimMapping")
	copyStr(cm, claims, "userNameKey", "username", "preferredUsernameKey", "username", "groupsKey", "groups", "emailKey", "email", "emailVerifiedKey", "email_verified")
	c.notConverted(cm, "no Gatehouse equivalent")
	if len(claims.Content) > 0 {
		put(out, "claims", claims)
	}
	if in.present("rootCAs") || in.present("insecureSkipVerify") {
		in.used["rootCAs"], in.used["insecureSkipVerify"] = true, true
		c.note("%s.rootCAs / insecureSkipVerify are not converted: Gatehouse uses the system's CAs (SSL_CERT_FILE)", in.path)
	}
}

// sortedKeys returns m's keys in order, so the output does not depend on map iteration.
func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
