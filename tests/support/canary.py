"""Canary secrets: every test uses these, and the last test checks none of them leaked into a file."""

CRM_KEY = "canary-crm-key-5f0c9e3a71d24b"
PBX_KEY = "canary-pbx-key-8b1d47e2c06f93"
LINK_TOKEN = "canaryLinkToken7Hq2Zx9Wm4"
RECORDING_LINK = f"https://pbx.example.com/get_file?file={LINK_TOKEN}"
