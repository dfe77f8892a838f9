"""pbx-companion: a desktop companion for call-center agents on a cloud PBX."""

__version__ = "0.1.0"

#: Reverse-DNS id shared by the desktop entry, AppStream metainfo, the autostart entry, the macOS
#: bundle id and the LaunchAgent label, so that every OS integration names the same application.
APP_ID = "org.pbxcompanion.PbxCompanion"
#: The command, the executable in the bundle, and the icon name in the icon theme.
APP_NAME = "pbx-companion"
