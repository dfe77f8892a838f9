"""pbx-companion: a desktop companion for call-center agents on a cloud PBX."""

__version__ = "0.1.0"
