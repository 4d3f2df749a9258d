-- joule central system store, PostgreSQL flavour (keep in step with ../sqlite/0001_initial.sql).
-- Timestamps: BIGINT milliseconds since the Unix epoch. Energy: DOUBLE PRECISION watt-hours.
-- Booleans: INTEGER 0/1. Optional texts that take part in a UNIQUE key are NOT NULL DEFAULT ''.

CREATE TABLE stations (
    id               TEXT    NOT NULL PRIMARY KEY,
    registration     TEXT    NOT NULL CHECK (registration IN ('Accepted', 'Pending', 'Rejected')),
    password_salt    TEXT,
    password_hash    TEXT,
    vendor           TEXT,
    model            TEXT,
    serial_number    TEXT,
    firmware_version TEXT,
    ocpp_version     TEXT,
    last_boot_ms     BIGINT,
    last_seen_ms     BIGINT,
    created_ms       BIGINT  NOT NULL
);

CREATE TABLE connector_statuses (
    station_id   TEXT    NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id      INTEGER NOT NULL,
    connector_id INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    error_code   TEXT,
    info         TEXT,
    updated_ms   BIGINT  NOT NULL,
    PRIMARY KEY (station_id, evse_id, connector_id)
);

CREATE TABLE tokens (
    id_tag        TEXT   NOT NULL PRIMARY KEY,
    status        TEXT   NOT NULL,
    expiry_ms     BIGINT,
    parent_id_tag TEXT
);

CREATE TABLE transactions (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station_id     TEXT    NOT NULL REFERENCES stations (id),
    tx_key         TEXT,
    start_key      TEXT    NOT NULL,
    evse_id        INTEGER NOT NULL,
    connector_id   INTEGER NOT NULL,
    id_tag         TEXT,
    meter_start_wh DOUBLE PRECISION NOT NULL,
    meter_last_wh  DOUBLE PRECISION,
    meter_stop_wh  DOUBLE PRECISION,
    started_ms     BIGINT  NOT NULL,
    stopped_ms     BIGINT,
    stop_reason    TEXT,
    state          TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'completed')),
    UNIQUE (station_id, start_key)
);
CREATE INDEX transactions_by_key ON transactions (station_id, tx_key);
CREATE INDEX transactions_by_state ON transactions (state, station_id, connector_id);
CREATE INDEX transactions_by_start ON transactions (started_ms);

CREATE TABLE transaction_events (
    tx_id          BIGINT  NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    seq_no         BIGINT  NOT NULL,
    event_type     TEXT    NOT NULL,
    trigger_reason TEXT    NOT NULL,
    timestamp_ms   BIGINT  NOT NULL,
    offline        INTEGER NOT NULL CHECK (offline IN (0, 1)),
    payload        TEXT    NOT NULL,
    PRIMARY KEY (tx_id, seq_no)
);

CREATE TABLE meter_values (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station_id   TEXT    NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id      INTEGER NOT NULL,
    connector_id INTEGER NOT NULL,
    tx_id        BIGINT  REFERENCES transactions (id) ON DELETE CASCADE,
    timestamp_ms BIGINT  NOT NULL,
    measurand    TEXT    NOT NULL,
    value        TEXT    NOT NULL,
    unit         TEXT,
    phase        TEXT    NOT NULL DEFAULT '',
    location     TEXT    NOT NULL DEFAULT '',
    context      TEXT    NOT NULL DEFAULT '',
    UNIQUE (station_id, evse_id, connector_id, timestamp_ms, measurand, phase, location, context, value)
);
CREATE INDEX meter_values_by_tx ON meter_values (tx_id, timestamp_ms);

CREATE TABLE station_events (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station_id  TEXT    NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    action      TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    received_ms BIGINT  NOT NULL
);
CREATE INDEX station_events_by_station ON station_events (station_id, action, received_ms);
