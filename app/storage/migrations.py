"""Schema migrations, applied in order: one list for both databases.

SQLite records the version in ``PRAGMA user_version``; PostgreSQL in the one-row table
``pbx_companion_schema``. The scripts are written for SQLite; :func:`postgresql_script` turns one
into PostgreSQL's types (64-bit integers, double-precision times, identity keys), after
:data:`POSTGRESQL_PREAMBLE` has given PostgreSQL what the shared SQL uses and it lacks.
Append a new entry to :data:`MIGRATIONS` for every change; never edit one that has shipped.
"""

from __future__ import annotations

import re

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
    # 3: the team server: agents and their tokens (a hash only), the feed journal every agent's app
    # resumes from (``seq`` is never reused: AUTOINCREMENT), who each message is for
    """
    CREATE TABLE agents (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL,
        crm_user    TEXT NOT NULL,
        extension   TEXT,
        supervisor  INTEGER NOT NULL DEFAULT 0,
        token_hash  TEXT NOT NULL UNIQUE,
        created_at  REAL NOT NULL,
        rotated_at  REAL,
        revoked_at  REAL
    );
    CREATE UNIQUE INDEX agents_name ON agents(name COLLATE NOCASE) WHERE revoked_at IS NULL;
    CREATE TABLE feed (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        at         REAL NOT NULL,
        type       TEXT NOT NULL,
        everyone   INTEGER NOT NULL DEFAULT 0,
        payload    TEXT NOT NULL
    );
    CREATE INDEX feed_at ON feed(at);
    CREATE TABLE feed_recipients (
        seq        INTEGER NOT NULL REFERENCES feed(seq) ON DELETE CASCADE,
        recipient  TEXT NOT NULL,
        PRIMARY KEY (recipient, seq)
    );
    CREATE INDEX feed_recipients_seq ON feed_recipients(seq);
    CREATE TABLE server_meta (
        name   TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    );
    """,
    # 4: retention (issue 12): what grows with events is pruned oldest first, by the time we received it
    """
    CREATE INDEX calls_first_seen ON calls(first_seen);
    CREATE INDEX cdrs_received ON cdrs(received_at);
    CREATE INDEX call_notes_updated ON call_notes(updated_at);
    CREATE INDEX presence_updated ON presence(updated_at);
    """,
)


#: Run once on a new PostgreSQL database, before migration 1: ``COLLATE NOCASE`` (ICU, every
#: letter, not just ASCII) and SQLite's ``json_patch`` (RFC 7396 merge patch, used by imports).
POSTGRESQL_PREAMBLE = """
CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE OR REPLACE FUNCTION jsonb_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    member text;
    value jsonb;
    result jsonb;
BEGIN
    IF patch IS NULL OR jsonb_typeof(patch) <> 'object' THEN
        RETURN patch;
    END IF;
    result := CASE WHEN jsonb_typeof(target) = 'object' THEN target ELSE '{}'::jsonb END;
    FOR member, value IN SELECT * FROM jsonb_each(patch) LOOP
        IF jsonb_typeof(value) = 'null' THEN
            result := result - member;
        ELSE
            result := jsonb_set(result, ARRAY[member], jsonb_merge_patch(result -> member, value));
        END IF;
    END LOOP;
    RETURN result;
END
$$;
CREATE OR REPLACE FUNCTION json_patch(target text, patch text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT jsonb_merge_patch(target::jsonb, patch::jsonb)::text $$;
"""

_POSTGRESQL_TYPES = (
    (re.compile(r"\bINTEGER PRIMARY KEY( AUTOINCREMENT)?"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
)


def postgresql_script(script: str) -> str:
    """A migration script in PostgreSQL's types (SQLite's INTEGER is 64-bit, REAL a double)."""
    for pattern, replacement in _POSTGRESQL_TYPES:
        script = pattern.sub(replacement, script)
    return script
