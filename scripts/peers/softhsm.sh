# softhsm.sh defines install_softhsm for scripts/install-peers.sh: Debian's softhsm2, a
# PKCS#11 token in files, for the signing.backend pkcs11 tests (tokens/pkcs11, build tags
# peers and pkcs11). Each test initializes its own token under its own SOFTHSM2_CONF
# (internal/testpeer/softhsm.go); /etc/softhsm and the system token directory are not used.
# opensc brings pkcs11-tool, to look into a token by hand (docs/production.md).

# install_softhsm installs softhsm2 and opensc.
install_softhsm() {
	if [[ -f /usr/lib/softhsm/libsofthsm2.so ]] && command -v softhsm2-util >/dev/null && command -v pkcs11-tool >/dev/null; then
		log "softhsm2: present ($(softhsm2-util --version))"
		return 0
	fi
	apt_install softhsm2 opensc
	[[ -f /usr/lib/softhsm/libsofthsm2.so ]] || die "softhsm2 installed but /usr/lib/softhsm/libsofthsm2.so is missing"
	log "softhsm2: installed ($(softhsm2-util --version))"
}
