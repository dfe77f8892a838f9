"""The CRM side of the UserCRM API: the HTTP endpoint the PBX posts to.

No Qt and no storage here: what the webhook does with a request is delegated to a
:class:`~app.webhook.backend.WebhookBackend` (the core implements it), so the webhook can be
tested over real HTTP with any backend and the layers keep pointing downward.
"""

from .app import BACKEND, CONFIG, WebhookConfig, create_app
from .backend import BackendUnavailable, WebhookBackend
from .server import WebhookServer

__all__ = ["BACKEND", "CONFIG", "BackendUnavailable", "WebhookBackend", "WebhookConfig", "WebhookServer", "create_app"]
