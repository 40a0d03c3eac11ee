-- Upstream logout (storage.UpstreamSessions): find the SSO sessions of an upstream session
-- (sid) or upstream user (sub) of one connector, named by the upstream's logout token or
-- LogoutRequest. The expressions are those of the queries in upstreamsessions.go.
CREATE INDEX sessions_upstream_subject ON sessions
    (json_extract(auth, '$.connector_id'), json_extract(auth, '$.upstream_subject'));
CREATE INDEX sessions_upstream_session ON sessions (json_extract(auth, '$.upstream_session_id'))
    WHERE json_extract(auth, '$.upstream_session_id') IS NOT NULL;
