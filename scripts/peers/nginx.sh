# nginx.sh defines install_nginx for scripts/install-peers.sh: Debian's nginx (nginx-light),
# the front proxy of the authproxy connector's real-peer test (connectors/authproxy, build tag
# peers).
#
# The package is installed without starting its service: the test writes its own nginx.conf
# in a temp dir and runs `nginx -c CONF -p DIR` on loopback, never the system instance.

# install_nginx installs nginx-light unless an nginx binary is present.
install_nginx() {
	if [[ -x /usr/sbin/nginx ]]; then
		log "nginx: present ($(/usr/sbin/nginx -v 2>&1))"
		return 0
	fi
	need_root nginx-light
	# Keep the package's maintainer scripts from starting the system nginx.
	local prc=/usr/sbin/policy-rc.d had_prc=0
	[[ -e "$prc" ]] && had_prc=1
	if [[ "$had_prc" -eq 0 ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$prc"
		chmod 755 "$prc"
	fi
	local rc=0
	apt_install nginx-light || rc=$?
	[[ "$had_prc" -eq 0 ]] && rm -f "$prc"
	[[ "$rc" -eq 0 ]] || die "nginx: apt-get install failed (exit $rc)"
	[[ -x /usr/sbin/nginx ]] || die "nginx installed but /usr/sbin/nginx is missing"
	log "nginx: installed"
}
