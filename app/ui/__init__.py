"""The tray app's widgets and models (PySide6). Everything here talks to the core through
:class:`app.ui.context.UiContext`; nothing here runs SQL or HTTP itself."""
