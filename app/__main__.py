"""``python -m app`` is the same as the ``pbx-companion`` command."""

from app.cli import main

raise SystemExit(main())
