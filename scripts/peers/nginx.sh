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
	local rc=0
	apt_install_no_start nginx-light || rc=$?
	[[ "$rc" -eq 0 ]] || die "nginx: apt-get install failed (exit $rc)"
	[[ -x /usr/sbin/nginx ]] || die "nginx installed but /usr/sbin/nginx is missing"
	log "nginx: installed"
}
