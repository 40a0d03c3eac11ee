# apache.sh defines install_apache_openidc and install_apache_mellon for
# scripts/install-peers.sh: Debian's apache2 with mod_auth_openidc (libapache2-mod-auth-openidc),
# the real relying party of the back-channel logout test (broker/logout, build tag peers), and
# with mod_auth_mellon (libapache2-mod-auth-mellon), the real SAML SP of e2e's Mellon test.
#
# The packages are installed without starting the system service: the test writes its own
# httpd.conf (ServerRoot, PidFile, Listen 127.0.0.1:PORT, LoadModule lines) in a temp dir and
# runs `apache2 -f CONF -k start`, never /etc/apache2 or the system instance.

# install_apache_openidc installs apache2 and mod_auth_openidc unless both are present.
install_apache_openidc() {
	if [[ -x /usr/sbin/apache2 && -f /usr/lib/apache2/modules/mod_auth_openidc.so ]]; then
		log "apache2 + mod_auth_openidc: present ($(/usr/sbin/apache2 -v 2>/dev/null | head -1))"
		return 0
	fi
	need_root apache2 libapache2-mod-auth-openidc
	local rc=0
	apt_install_no_start apache2 libapache2-mod-auth-openidc || rc=$?
	[[ "$rc" -eq 0 ]] || die "apache2: apt-get install failed (exit $rc)"
	[[ -x /usr/sbin/apache2 ]] || die "apache2 installed but /usr/sbin/apache2 is missing"
	[[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ]] || die "mod_auth_openidc.so is missing"
	log "apache2 + mod_auth_openidc: installed"
}

# install_apache_mellon installs apache2 and mod_auth_mellon (libapache2-mod-auth-mellon, with
# Debian's mellon_create_metadata), the real SAML service provider of e2e's
# TestMellonServiceProvider, unless both are present.
install_apache_mellon() {
	if [[ -x /usr/sbin/apache2 && -f /usr/lib/apache2/modules/mod_auth_mellon.so && -x /usr/sbin/mellon_create_metadata ]]; then
		log "apache2 + mod_auth_mellon: present"
		return 0
	fi
	need_root apache2 libapache2-mod-auth-mellon
	local rc=0
	apt_install_no_start apache2 libapache2-mod-auth-mellon || rc=$?
	[[ "$rc" -eq 0 ]] || die "mod_auth_mellon: apt-get install failed (exit $rc)"
	[[ -f /usr/lib/apache2/modules/mod_auth_mellon.so ]] || die "mod_auth_mellon.so is missing"
	[[ -x /usr/sbin/mellon_create_metadata ]] || die "mellon_create_metadata is missing"
	log "apache2 + mod_auth_mellon: installed"
}
