# slapd.sh defines install_slapd for scripts/install-peers.sh: Debian's OpenLDAP server and
# client tools, for the LDAP connector's real-peer tests (connectors/ldap, build tag peers).
#
# The package is installed without its system database and without starting a service: the
# tests build their own cn=config with slapadd -n0 in a temp dir and run slapd on loopback.

# install_slapd installs slapd and ldap-utils unless both are present.
install_slapd() {
	if [[ -x /usr/sbin/slapd ]] && command -v slapadd >/dev/null && command -v ldapadd >/dev/null; then
		log "slapd: present"
		return 0
	fi
	need_root slapd ldap-utils
	echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
	# Keep the package's maintainer scripts from starting the system slapd.
	local rc=0
	apt_install_no_start slapd ldap-utils || rc=$?
	[[ "$rc" -eq 0 ]] || die "slapd: apt-get install failed (exit $rc)"
	[[ -x /usr/sbin/slapd ]] || die "slapd installed but /usr/sbin/slapd is missing"
	log "slapd: installed"
}
