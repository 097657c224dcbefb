-- The local stack's development kiosk, which the kiosk page of deploy/local/checkin.toml scans
-- as. A real kiosk is registered by an officer through RegisterKiosk, which makes up its
-- credential; here the credential is the published one of checkin.toml, stored the way the
-- service stores every credential (SHA-256 of the trimmed text), so the page can be tried at
-- once. Running it again changes nothing.
INSERT INTO checkin.kiosks
    (kiosk_id, centre_id, province, label, credential_hash, registered_by, registered_at)
VALUES
    ('00000000-0000-7000-8000-00000000c0de', 'HN-DEMO', '01', 'Local kiosk page',
     sha256(convert_to('LOCAL-KIOSK-PAGE-DEVELOPMENT-ONLY', 'UTF8')), 'local-stack', now())
ON CONFLICT DO NOTHING;
