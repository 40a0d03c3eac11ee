package sqlite

// allQueries lists every statement the Store runs after Open; they are prepared at Open.
func allQueries() []string {
	return []string{
		qInsertAuthRequest, qGetAuthRequest, qUpdateAuthRequest, qDeleteAuthRequest,
		qInsertAuthCode, qConsumeCode,
		qInsertAudit, qDeleteAuditBefore,
		qInsertClient, qGetClient, qListClients, qUpdateClient, qClientExists,
		qInsertIAT, qGetIAT, qListIAT, qDeleteIAT, qUseIAT,
		qInsertServiceProvider, qGetServiceProvider, qGetSPByEntityID, qListServiceProviders, qUpdateServiceProvider,
		qInsertDevice, qGetDeviceByUser, qDecideDevice, qPollDevice, qExpiredDevices,
		qAddParticipant, qParticipants, qSessionsOf, qSessionsOfUpstreamSID, qSessionsOfUpstreamSub, qEnqueueLogout, qClaimLogouts, qCompleteLogout, qRetryLogout, qExpiredParticipants,
		qInsertGrant, qGetGrant, qListGrants, qRevokeGrant, qRevokeSessionGrts,
		qInsertRefresh, qGetRefresh, qUseRefresh, qGetRefreshAndGrant, qUpdateGrantIdentity,
		qInsertSession, qGetSession, qTouchSession, qDeleteSession,
		qGetConsent, qPutConsent, qDeleteConsent,
		qListKeys, qDeleteKeys, qInsertKey,
		qInsertUser, qUpsertUser, qGetUser, qListUsers, qListConfigUsers, qFindUsersByEmail, qDeleteUser, qReplacePassword,
		qInsertLink, qGetLink, qCreateLink, qFindLinkEmail, qSetLinkEmail, qListUserLinks, qDeleteUserLink,
		qGCAuthRequests, qGCAuthCodes, qGCRefreshTokens, qGCGrantTokens, qGCGrants, qGCSessionsIdle, qGCSessionsAbsolute, qGCSigningKeys,
		qGetReplacedBy, qGetUsedAt, qRevokeSuccessr, qSetReplacedBy,
		qRotateRefresh, qRefreshRefusal,
	}
}
