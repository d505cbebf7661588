-- moltd_schema1.sql - a moltd database as schema 1 left it, for the upgrade check in
-- tests/py/test_moltd.py. The tables are step 1 of moltd/db.c copied as released (steps are never
-- edited, so neither is this copy); @SERIAL@ is the backend's auto-increment key and the
-- test appends the backend's append-only triggers for audit. Then a small fleet: a viewer
-- token, a signer, a class, a package, a device with attributes, a finished campaign and
-- its audit trail. Tokens: viewer legacy-viewer-token-0001, device legacy-device-token-0001.
CREATE TABLE api_tokens (hash TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'gateway')), created BIGINT NOT NULL);
CREATE TABLE signers (name TEXT PRIMARY KEY, pem TEXT NOT NULL, der_hex TEXT NOT NULL, key_type TEXT NOT NULL, created BIGINT NOT NULL);
CREATE TABLE device_classes (name TEXT PRIMARY KEY, created BIGINT NOT NULL);
CREATE TABLE class_signers (class TEXT NOT NULL REFERENCES device_classes(name), signer TEXT NOT NULL REFERENCES signers(name), PRIMARY KEY (class, signer));
CREATE TABLE packages (id @SERIAL@, sha256 TEXT NOT NULL UNIQUE, sha1 TEXT NOT NULL, md5 TEXT NOT NULL, size BIGINT NOT NULL, class TEXT NOT NULL REFERENCES device_classes(name), version TEXT NOT NULL, version_key TEXT NOT NULL, security_counter BIGINT NOT NULL, filename TEXT NOT NULL, signer TEXT NOT NULL, uploaded_by TEXT NOT NULL, created BIGINT NOT NULL, UNIQUE (class, version_key));
CREATE TABLE devices (id TEXT PRIMARY KEY, class TEXT NOT NULL REFERENCES device_classes(name), attest_key TEXT NOT NULL, enc_key TEXT, token_hash TEXT NOT NULL, version TEXT, attested_version TEXT, attributes TEXT NOT NULL DEFAULT '{}', config_wanted INTEGER NOT NULL DEFAULT 1, last_seen BIGINT, created BIGINT NOT NULL);
CREATE TABLE campaigns (id @SERIAL@, name TEXT NOT NULL, package_id BIGINT NOT NULL REFERENCES packages(id), filter TEXT NOT NULL, steps TEXT NOT NULL, step INTEGER NOT NULL, failure_threshold INTEGER NOT NULL, message TEXT NOT NULL, start_at BIGINT NOT NULL, state TEXT NOT NULL, state_reason TEXT, created_by TEXT NOT NULL, created BIGINT NOT NULL);
CREATE TABLE actions (id @SERIAL@, campaign_id BIGINT NOT NULL REFERENCES campaigns(id), device_id TEXT NOT NULL REFERENCES devices(id), step INTEGER NOT NULL, state TEXT NOT NULL, version_before TEXT, notified BIGINT, detail TEXT, updated BIGINT NOT NULL);
CREATE INDEX actions_device ON actions (device_id, state);
CREATE INDEX actions_campaign ON actions (campaign_id, step, state);
CREATE TABLE audit (id @SERIAL@, at BIGINT NOT NULL, actor TEXT NOT NULL, what TEXT NOT NULL, object TEXT NOT NULL, version_before TEXT, version_after TEXT, detail TEXT);
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
INSERT INTO api_tokens (hash, name, role, created) VALUES ('94b6e0787ed5cb098178317eb925c0e248f56e6fa4fe50bcc2c0a62b4dad0ad2', 'oldview', 'viewer', 1700000000000);
INSERT INTO signers (name, pem, der_hex, key_type, created) VALUES ('old', '-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXHzQVw4l54gB/7uDJAsnYkOIBK02
F1eUxIByPZk6YMDgB4w7Y9Dlkd0Yxpg96K5Jo1p6wX5BjCIde6vBKJWnDw==
-----END PUBLIC KEY-----
', '00', 'ecdsa-p256', 1700000000001);
INSERT INTO device_classes (name, created) VALUES ('legacy', 1700000000002);
INSERT INTO class_signers (class, signer) VALUES ('legacy', 'old');
INSERT INTO packages (sha256, sha1, md5, size, class, version, version_key, security_counter, filename, signer, uploaded_by, created) VALUES ('1111111111111111111111111111111111111111111111111111111111111111', '2222222222222222222222222222222222222222', '33333333333333333333333333333333', 1000, 'legacy', '0.9.0+0', '000.009.00000.0000000000', 589824, 'legacy-0.9.0.bin', 'old', 'admin', 1700000000003);
INSERT INTO devices (id, class, attest_key, enc_key, token_hash, version, attested_version, attributes, config_wanted, last_seen, created) VALUES ('old1', 'legacy', '-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXHzQVw4l54gB/7uDJAsnYkOIBK02
F1eUxIByPZk6YMDgB4w7Y9Dlkd0Yxpg96K5Jo1p6wX5BjCIde6vBKJWnDw==
-----END PUBLIC KEY-----
', NULL, 'a2770f9b52234fcd6c24955b754425388a2fdd57980a77b3bbd03a0e068c82e3', '0.9.0+0', NULL, '{"hw":"rev-a"}', 0, 1700000000010, 1700000000004);
INSERT INTO campaigns (name, package_id, filter, steps, step, failure_threshold, message, start_at, state, state_reason, created_by, created) VALUES ('first', 1, '{}', '100', 0, 100, '', 0, 'finished', NULL, 'admin', 1700000000005);
INSERT INTO actions (campaign_id, device_id, step, state, version_before, notified, detail, updated) VALUES (1, 'old1', 0, 'success', NULL, 1700000000006, 'Update Installed.', 1700000000007);
INSERT INTO audit (at, actor, what, object, version_before, version_after, detail) VALUES (1700000000001, 'admin', 'signer.create', 'old', NULL, NULL, 'ecdsa-p256');
INSERT INTO audit (at, actor, what, object, version_before, version_after, detail) VALUES (1700000000002, 'admin', 'class.create', 'legacy', NULL, NULL, NULL);
INSERT INTO audit (at, actor, what, object, version_before, version_after, detail) VALUES (1700000000003, 'admin', 'package.upload', 'package:1', NULL, '0.9.0+0', '1111111111111111111111111111111111111111111111111111111111111111');
INSERT INTO audit (at, actor, what, object, version_before, version_after, detail) VALUES (1700000000004, 'admin', 'device.provision', 'old1', NULL, NULL, 'legacy');
INSERT INTO audit (at, actor, what, object, version_before, version_after, detail) VALUES (1700000000005, 'admin', 'campaign.create', '1', NULL, '0.9.0+0', 'package 1, 1 devices, steps 100, threshold 100%; message: ');
INSERT INTO audit (at, actor, what, object, version_before, version_after, detail) VALUES (1700000000007, 'device:old1', 'update.success', 'old1', NULL, '0.9.0+0', 'Update Installed.');
INSERT INTO audit (at, actor, what, object, version_before, version_after, detail) VALUES (1700000000007, 'moltd', 'campaign.finish', '1', NULL, NULL, NULL);
