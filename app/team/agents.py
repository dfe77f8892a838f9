"""Agents of the team server and their personal tokens.

A token is 256 random bits shown once, when it is made; only its SHA-256 is stored (a random
token of that size needs no slow password hash: nobody can guess it, and the hash cannot be
reversed). Revoking or rotating takes effect on every server process within a second
(:class:`~app.team.hub.FeedHub` re-reads the agents twice a second and closes what is no longer valid).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from app.core.agent import AgentIdentity
from app.storage import Session, Store
from app.storage.records import AgentRecord

#: what a token starts with: recognisable in a config file or a leaked log, never part of the secret
TOKEN_PREFIX = "pbxa_"
_NAME = re.compile(r"^[\w .@-]{1,64}$")


class AgentError(ValueError):
    """An agents command cannot be done (unknown name, name taken, bad value); the message says why."""


def new_token() -> str:
    """A fresh personal token (``secrets.token_urlsafe(32)``: 256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().encode("utf-8", "surrogateescape")).hexdigest()


def identity_of(agent: AgentRecord) -> AgentIdentity:
    """Whose calls an agent receives: their CRM user and extension; a supervisor every call."""
    return AgentIdentity(agent.crm_user, agent.extension or "", agent.supervisor)


def feed_tags(agent: AgentRecord) -> list[str]:
    """The recipient tags of the feed journal that are this agent's (see :mod:`app.team.journal`)."""
    from .journal import user_tag

    return user_tag(agent.crm_user, agent.extension)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An agent and the token just made for them (print it once; it is stored nowhere)."""

    agent: AgentRecord
    token: str


class AgentAdmin:
    """The ``agents`` commands over a store (blocking: the CLI runs them outside an event loop)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, name: str, crm_user: str, extension: str | None = None, supervisor: bool = False) -> IssuedToken:
        name, crm_user = name.strip(), crm_user.strip()
        extension = (extension or "").strip() or None
        if not _NAME.match(name):
            raise AgentError(f"an agent's name is 1-64 letters, digits, spaces or . @ - _, not {name!r}")
        if not crm_user:
            raise AgentError("--crm-user must not be empty: the agent dials as this CRM user")
        token = new_token()

        def write(session: Session) -> AgentRecord:
            if session.agents.get(name) is not None:
                raise AgentError(f"an agent named {name!r} exists already (agents rotate {name!r} makes a new token)")
            return session.agents.add(name, crm_user, extension, supervisor, token_hash(token), time.time())

        return IssuedToken(self.store.write_sync(write), token)

    def list(self, *, include_revoked: bool = False) -> list[AgentRecord]:
        agents = self.store.read_sync(lambda s: s.agents.all())
        return [a for a in agents if include_revoked or a.revoked_at is None]

    def revoke(self, name: str) -> AgentRecord:
        def write(session: Session) -> AgentRecord:
            agent = self._named(session, name)
            session.agents.revoke(agent.id, time.time())
            return agent

        return self.store.write_sync(write)

    def rotate(self, name: str) -> IssuedToken:
        token = new_token()

        def write(session: Session) -> AgentRecord:
            agent = self._named(session, name)
            session.agents.rotate(agent.id, token_hash(token), time.time())
            return session.agents.get(agent.name) or agent

        return IssuedToken(self.store.write_sync(write), token)

    @staticmethod
    def _named(session: Session, name: str) -> AgentRecord:
        agent = session.agents.get(name.strip())
        if agent is None:
            raise AgentError(f"no agent named {name!r} (agents list shows them)")
        return agent
