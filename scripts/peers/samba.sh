# samba.sh defines install_samba for scripts/install-peers.sh: Debian's Samba Active Directory
# domain controller, for the LDAP connector's Active Directory tests (connectors/ldap, tag peers).
#
# Only the packages are installed; no domain is provisioned and no service is started here. The
# tests provision a throwaway domain in a temp dir and run `samba -i` on loopback (as root: AD's
# ports 389/636 are fixed).

# install_samba installs the Samba AD DC packages unless samba and samba-tool are present.
install_samba() {
	if command -v samba >/dev/null && command -v samba-tool >/dev/null; then
		log "samba: present"
		return 0
	fi
	need_root samba samba-ad-dc
	local rc=0
	apt_install_no_start samba samba-ad-dc samba-ad-provision samba-dsdb-modules python3-samba || rc=$?
	[[ "$rc" -eq 0 ]] || die "samba: apt-get install failed (exit $rc)"
	command -v samba >/dev/null || die "samba installed but the samba binary is missing"
	log "samba: installed"
}
