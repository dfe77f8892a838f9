"""The tray app's command line: ``--server URL`` starts it as a team server's client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.core.settings import SettingsError
from app.options import parse_known, tray_parser, tray_settings
from tests.support.serve_process import PROJECT_ROOT


def test_server_starts_the_tray_app_in_team_mode(tmp_path: Path):
    config = tmp_path / "settings.toml"
    args = tray_parser().parse_args(["--config", str(config), "--server", " https://team.example:8765 ", "tel:101"])
    settings = tray_settings(args)
    assert settings.team_mode and settings.team_server == "https://team.example:8765"
    assert args.uris == ["tel:101"]
    # without it the settings file decides: standalone by default
    assert not tray_settings(tray_parser().parse_args(["--config", str(config)])).team_mode
    # a clicked link's fast path knows --server takes a value (the link after it is still a link)
    assert parse_known(["--server", "https://team.example", "tel:102"]).uris == ["tel:102"]


def test_a_server_that_is_not_a_web_address_is_refused(tmp_path: Path):
    args = tray_parser().parse_args(["--config", str(tmp_path / "settings.toml"), "--server", "team.example"])
    with pytest.raises(SettingsError, match="team_server must start with http:// or https://"):
        tray_settings(args)
    done = subprocess.run([sys.executable, "-m", "app", "--config", str(tmp_path / "settings.toml"),
                           "--server", "team.example"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "pbx-companion: error: team_server must start with http:// or https://, not 'team.example'"]
