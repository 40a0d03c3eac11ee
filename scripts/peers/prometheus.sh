# prometheus.sh defines install_prometheus for scripts/install-peers.sh: Debian's prometheus
# package, for its promtool, which checks a scrape of Gatehouse's /metrics
# (broker/ops_peers_test.go, build tag peers: `promtool check metrics`).
#
# The package is installed without starting its service; the tests only run promtool.

# install_prometheus installs prometheus unless promtool is present.
install_prometheus() {
	if command -v promtool >/dev/null; then
		log "promtool: present ($(promtool --version 2>&1 | head -1))"
		return 0
	fi
	need_root prometheus
	local rc=0
	apt_install_no_start prometheus || rc=$?
	[[ "$rc" -eq 0 ]] || die "prometheus: apt-get install failed (exit $rc)"
	command -v promtool >/dev/null || die "prometheus installed but promtool is missing"
	log "promtool: installed"
}
