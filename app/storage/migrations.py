"""Schema migrations, applied in order and recorded in ``PRAGMA user_version``.

Append a new entry to :data:`MIGRATIONS` for every change; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the initial schema
    """
    CREATE TABLE crm_users (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        extension  TEXT UNIQUE,
        created_at REAL NOT NULL
    );
    CREATE TABLE companies (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        owner_id   TEXT,
        created_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX companies_name ON companies(name COLLATE NOCASE);
    CREATE TABLE contacts (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        company_id INTEGER REFERENCES companies(id) ON DELETE SET NULL,
        owner_id   TEXT,
        email      TEXT,
        note       TEXT,
        extra      TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX contacts_name ON contacts(name COLLATE NOCASE);
    CREATE TABLE phones (
        id         INTEGER PRIMARY KEY,
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        key        TEXT NOT NULL,
        raw        TEXT NOT NULL,
        label      TEXT,
        extension  TEXT,
        UNIQUE (contact_id, key)
    );
    CREATE INDEX phones_key ON phones(key);
    CREATE TABLE calls (
        call_id            TEXT PRIMARY KEY,
        session_id         TEXT,
        direction          INTEGER,
        other_leg          TEXT,
        other_key          TEXT,
        crm_user           TEXT,
        domain_user        TEXT,
        gateway_number     TEXT,
        state              TEXT NOT NULL,
        ringing_at         REAL,
        answered_at        REAL,
        hangup_at          REAL,
        hangup_cause       TEXT,
        answer_seconds     INTEGER,
        missed             INTEGER NOT NULL DEFAULT 0,
        answered_elsewhere INTEGER NOT NULL DEFAULT 0,
        contact_id         INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
        cdr_uniqueid       TEXT,
        first_seen         REAL NOT NULL,
        updated_at         REAL NOT NULL
    );
    CREATE INDEX calls_session ON calls(session_id);
    CREATE INDEX calls_other_key ON calls(other_key, first_seen);
    CREATE INDEX calls_missed ON calls(missed, crm_user) WHERE missed = 1;
    CREATE TABLE hold_periods (
        id         INTEGER PRIMARY KEY,
        call_id    TEXT NOT NULL REFERENCES calls(call_id) ON DELETE CASCADE,
        held_at    REAL,
        resumed_at REAL
    );
    CREATE INDEX hold_periods_call ON hold_periods(call_id);
    CREATE TABLE cdrs (
        uniqueid              TEXT PRIMARY KEY,
        pbx_id                TEXT,
        dt                    REAL,
        src                   TEXT,
        dst                   TEXT,
        duration              INTEGER,
        billsec               INTEGER,
        cc_queue_waiting_time INTEGER,
        lastapp               TEXT,
        lastdata              TEXT,
        rec_path              TEXT,
        gateway               TEXT,
        gateway_number        TEXT,
        dial_status           INTEGER,
        direction             INTEGER,
        project_id            TEXT,
        project_name          TEXT,
        bridge_hangup_cause   TEXT,
        hold_accum_seconds    INTEGER,
        geo_ids               TEXT,
        geo_names             TEXT,
        link                  TEXT,
        extra                 TEXT NOT NULL DEFAULT '{}',
        other_key             TEXT,
        contact_id            INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
        received_at           REAL NOT NULL,
        source                TEXT NOT NULL
    );
    CREATE INDEX cdrs_other_key ON cdrs(other_key, dt);
    CREATE TABLE presence (
        user_uid     TEXT PRIMARY KEY,
        crm_user     TEXT,
        reg_status   INTEGER,
        protocol     INTEGER,
        base_status  INTEGER,
        extra_status INTEGER,
        status_name  TEXT,
        updated_at   REAL NOT NULL
    );
    CREATE TABLE presence_history (
        id           INTEGER PRIMARY KEY,
        user_uid     TEXT NOT NULL,
        crm_user     TEXT,
        kind         TEXT NOT NULL,
        reg_status   INTEGER,
        protocol     INTEGER,
        base_status  INTEGER,
        extra_status INTEGER,
        status_name  TEXT,
        at           REAL NOT NULL
    );
    CREATE INDEX presence_history_user ON presence_history(user_uid, at);
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        dedupe_key  TEXT NOT NULL UNIQUE,
        action      TEXT NOT NULL,
        action_id   TEXT,
        received_at REAL NOT NULL,
        payload     TEXT NOT NULL
    );
    CREATE INDEX events_received ON events(received_at);
    """,
    # 2: what the tray app keeps: notes and outcomes per call, dismissed missed calls, dialed numbers
    """
    CREATE TABLE call_notes (
        call_ref   TEXT PRIMARY KEY,
        note       TEXT NOT NULL DEFAULT '',
        outcome    TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL
    );
    ALTER TABLE calls ADD COLUMN missed_cleared_at REAL;
    CREATE TABLE dial_log (
        id        INTEGER PRIMARY KEY,
        key       TEXT NOT NULL,
        dialed    TEXT NOT NULL,
        at        REAL NOT NULL
    );
    CREATE INDEX dial_log_at ON dial_log(at);
    """,
)
