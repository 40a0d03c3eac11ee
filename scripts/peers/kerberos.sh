# kerberos.sh defines install_kerberos for scripts/install-peers.sh: Debian's MIT Kerberos
# client tools (kinit, kvno) for the Kerberos/SPNEGO desktop SSO test against Samba AD's KDC
# (connectors/ldap/kerberos_peers_test.go, tag peers), which drives curl --negotiate.
#
# Only the packages: the test writes a private krb5.conf (KRB5_CONFIG) and credential cache
# (KRB5CCNAME) in a temp dir; /etc/krb5.conf is neither read nor written.

# install_kerberos installs krb5-user and curl unless kinit, kvno and a curl with GSS-API are present.
install_kerberos() {
	if command -v kinit >/dev/null && command -v kvno >/dev/null && command -v curl >/dev/null &&
		curl -V 2>/dev/null | grep -qi 'gss-api\|spnego'; then
		log "kerberos: present"
		return 0
	fi
	need_root krb5-user curl
	# krb5-config asks for a default realm unless told not to.
	export DEBIAN_FRONTEND=noninteractive
	apt_install krb5-user curl
	command -v kinit >/dev/null || die "krb5-user installed but kinit is missing"
	log "kerberos: installed"
}
