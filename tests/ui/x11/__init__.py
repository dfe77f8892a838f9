"""Helpers that run under a real X server (Xvfb): probe scripts started as subprocesses."""
