# caddy.sh defines install_caddy for scripts/install-peers.sh: Debian's caddy (2.6), a
# reverse proxy with forward_auth, in front of the forward-auth peers tests (broker/forwardauth,
# build tag peers). The tests run their own Caddyfile on loopback, never the system service.

# install_caddy installs Debian's caddy without starting its service.
install_caddy() {
	if [[ -x /usr/bin/caddy ]]; then
		log "caddy: present ($(/usr/bin/caddy version 2>&1 | head -1))"
		return 0
	fi
	need_root caddy
	local rc=0
	apt_install_no_start caddy || rc=$?
	[[ "$rc" -eq 0 ]] || die "caddy: apt-get install failed (exit $rc)"
	[[ -x /usr/bin/caddy ]] || die "caddy installed but /usr/bin/caddy is missing"
	log "caddy: installed"
}
