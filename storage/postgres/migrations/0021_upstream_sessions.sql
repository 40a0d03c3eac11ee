-- Upstream logout (storage.UpstreamSessions): find the SSO sessions of an upstream session
-- (sid) or upstream user (sub) of one connector, named by the upstream's logout token or
-- LogoutRequest. The expressions are those of the queries in upstreamsessions.go.
CREATE INDEX sessions_upstream_subject ON sessions
    (((auth::jsonb)->>'connector_id'), ((auth::jsonb)->>'upstream_subject'));
CREATE INDEX sessions_upstream_session ON sessions (((auth::jsonb)->>'upstream_session_id'))
    WHERE ((auth::jsonb)->>'upstream_session_id') IS NOT NULL;
