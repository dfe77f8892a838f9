"""The team server: one webhook for a whole call center, every agent's app fed over a WebSocket.

``pbx-companion serve`` runs the :class:`~app.core.engine.Engine` (the PBX's webhook, the
journal) and, on the same listener, the agent API (:mod:`app.team.agent_api`): each agent
connects with a personal token (:mod:`app.team.agents`) and receives only their own calls from
the feed journal (:mod:`app.team.journal`, :mod:`app.team.hub`). No Qt here.
"""
