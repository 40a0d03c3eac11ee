-- 0006: logout deletes the auth requests of the browser's flow and of the ended session
-- (storage.AuthRequestSweeper); these indexes keep that from scanning the table.
CREATE INDEX auth_requests_flow_hash ON auth_requests (flow_hash);
CREATE INDEX auth_requests_session_id ON auth_requests (session_id);
