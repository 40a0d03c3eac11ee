#!/usr/bin/env bash
# install-peers.sh installs the real peers that Gatehouse's end-to-end tests run against:
# Debian's headless Chromium and the npm packages of e2e/node (openid-client, playwright-core).
#
# Idempotent: a peer already present is not installed again. Runs as root on a fresh Debian 12
# machine (CI runs it from scripts/test-all.sh). Any failure stops the script with a non-zero
# exit status. Later peers (slapd, PostgreSQL, ...) get their own install_* function below and
# one line in main.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APT_UPDATED=0

log() { printf 'install-peers: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Each scripts/peers/NAME.sh defines install_NAME, called from main.
for f in "$ROOT"/scripts/peers/*.sh; do source "$f"; done

# need_root fails unless the script can install system packages.
need_root() {
	if [[ "$(id -u)" -ne 0 ]]; then
		die "must run as root to install Debian packages (missing: $*)"
	fi
}

# apt_install installs Debian packages without recommends, running `apt-get update` once per run.
apt_install() {
	need_root "$*"
	export DEBIAN_FRONTEND=noninteractive
	if [[ "$APT_UPDATED" -eq 0 ]]; then
		log "apt-get update"
		apt-get update -q
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	apt-get install -y -q --no-install-recommends "$@"
}

# install_chromium installs Debian's Chromium (driven headless by playwright-core) and fonts:
# Liberation for Latin, Noto CJK for the Japanese pages (Arabic is in DejaVu, a Chromium
# dependency); the e2e language check fails on missing glyphs.
install_chromium() {
	if [[ -x /usr/bin/chromium ]] && fc-list 2>/dev/null | grep -qi liberation && fc-list 2>/dev/null | grep -qi 'Noto Sans CJK'; then
		log "chromium: present ($(/usr/bin/chromium --version 2>/dev/null || echo unknown version))"
		return 0
	fi
	apt_install chromium fonts-liberation fonts-noto-cjk
	[[ -x /usr/bin/chromium ]] || die "chromium installed but /usr/bin/chromium is missing"
	log "chromium: $(/usr/bin/chromium --version)"
}

# install_node_modules installs the npm packages of e2e/node from its lock file.
install_node_modules() {
	command -v node >/dev/null || die "node is not installed (Node.js 20 or later is required)"
	command -v npm >/dev/null || die "npm is not installed"
	local dir="$ROOT/e2e/node"
	[[ -f "$dir/package.json" ]] || die "$dir/package.json is missing"
	# npm ls exits non-zero when an installed package is missing or not the pinned version.
	if [[ -d "$dir/node_modules/openid-client" ]] && [[ -d "$dir/node_modules/playwright-core" ]] &&
		npm ls --prefix "$dir" --all >/dev/null 2>&1; then
		log "e2e/node: node_modules up to date"
		return 0
	fi
	if [[ -f "$dir/package-lock.json" ]]; then
		log "npm ci --prefix e2e/node"
		npm ci --prefix "$dir" --no-audit --no-fund
	else
		log "npm install --prefix e2e/node (no package-lock.json)"
		npm install --prefix "$dir" --no-audit --no-fund
	fi
}

# apt_install_no_start installs Debian packages whose maintainer scripts would start a system
# service (slapd, samba, postgresql, nginx): a policy-rc.d that refuses every start is in place
# for the install (unless the machine already has one, which is left alone). The tests run
# their own instances on loopback, never the system ones.
apt_install_no_start() {
	local prc=/usr/sbin/policy-rc.d had_prc=0 rc=0
	[[ -e "$prc" ]] && had_prc=1
	if [[ "$had_prc" -eq 0 ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$prc"
		chmod 755 "$prc"
	fi
	apt_install "$@" || rc=$?
	[[ "$had_prc" -eq 0 ]] && rm -f "$prc"
	return "$rc"
}

main() {
	install_chromium
	install_node_modules
	install_slapd
	install_samba
	install_kerberos
	install_postgres
	install_oidc_provider
	install_nginx
	install_prometheus
	install_caddy
	install_softhsm
	install_apache_openidc
	install_apache_mellon
	log "all peers installed"
}

main "$@"
