"""The store's errors, in a module of their own: code that only catches them (the directory's inline
lookup, which the tray app in team mode imports too) does not load a database driver with them."""

from __future__ import annotations


class StorageError(RuntimeError):
    """The database cannot be opened or written (disk full, permissions, a newer schema, server gone)."""


class InlineReadRefused(StorageError):
    """:meth:`Store.read_inline` gave up (over its budget, locked, or not offered): use :meth:`Store.read`."""
