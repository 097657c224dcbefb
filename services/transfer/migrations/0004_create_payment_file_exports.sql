-- Every pain.001 file taken out of transfer: which batch, by whom, when, and a digest of the
-- bytes, so that a file handed to a bank can be traced to an officer.
CREATE TABLE payment_file_exports (
    message_id             TEXT        PRIMARY KEY,
    payment_information_id TEXT        NOT NULL,
    list_id                TEXT        NOT NULL,
    bank_id                TEXT        NOT NULL,
    transactions           BIGINT      NOT NULL CHECK (transactions > 0),
    control_sum_dong       BIGINT      NOT NULL CHECK (control_sum_dong > 0),
    sha256                 TEXT        NOT NULL,
    officer_id             TEXT        NOT NULL CHECK (officer_id <> ''),
    exported_at            TIMESTAMPTZ NOT NULL
);

CREATE INDEX payment_file_exports_list_bank ON payment_file_exports (list_id, bank_id);
