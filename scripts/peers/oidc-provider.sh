# oidc-provider.sh: npm oidc-provider (OpenID Certified), the real upstream OpenID provider of the
# oidc connector's peer tests (connectors/oidc, build tag peers). Defines:
#
#   install_oidc_provider   for scripts/install-peers.sh: `npm ci` in
#                           connectors/oidc/testdata/peer from its committed package-lock.json.
#
# The Go tests start it themselves (TestMain runs testdata/peer/provider.mjs with node on
# 127.0.0.1). Sourced by bash scripts with set -euo pipefail; log/die come from
# install-peers.sh when run from there; ROOT is the repository root.

install_oidc_provider() {
	local dir="${ROOT:?}/connectors/oidc/testdata/peer"
	command -v node >/dev/null || die "node is not installed (Node.js 20 or later is required for oidc-provider)"
	command -v npm >/dev/null || die "npm is not installed"
	[[ -f "$dir/package-lock.json" ]] || die "$dir/package-lock.json is missing"
	if [[ -d "$dir/node_modules/oidc-provider" ]] && npm ls --prefix "$dir" --all >/dev/null 2>&1; then
		log "oidc-provider: node_modules up to date"
		return 0
	fi
	log "npm ci --prefix connectors/oidc/testdata/peer"
	npm ci --prefix "$dir" --no-audit --no-fund
}
