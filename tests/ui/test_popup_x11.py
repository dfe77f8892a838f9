"""The pop-up on a real X server (Xvfb): it never takes the keyboard focus and it appears where the mouse is.

Offscreen Qt calls every window active, so these tests start a private Xvfb and run
tests/ui/x11/popup_probe.py in a subprocess with the xcb platform. The probe's agent types
with real key events (XTEST): the X server, not Qt, decides where they go.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.x11.xvfb import XVFB, Xvfb

ROOT = Path(__file__).resolve().parents[2]
NUMBER_SHOWN = "+7 495 252-30-60"


@pytest.fixture
def xvfb(request: pytest.FixtureRequest) -> Iterator[Xvfb]:
    if XVFB is None:
        pytest.skip("Xvfb is not installed (Debian package xvfb; `make test` installs it)")
    server = Xvfb(*getattr(request, "param", ("-screen", "0", "1280x800x24")))
    yield server
    server.stop()


def run_probe(xvfb: Xvfb, tmp_path: Path, *args: str) -> dict[str, Any]:
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=xvfb.display)
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.ui.x11.popup_probe", "--data-dir", str(tmp_path / "data"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, f"probe failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1])


def inside(rect: list[int], area: list[int]) -> bool:
    x, y, w, h = rect
    ax, ay, aw, ah = area
    return ax <= x and ay <= y and x + w <= ax + aw and y + h <= ay + ah


def test_the_pop_up_never_takes_the_keyboard_focus(xvfb, tmp_path):
    result = run_probe(xvfb, tmp_path)

    assert result["editor_focused_before"], "the probe could not give its own window the focus"
    [call] = result["calls"]
    assert call["status"] == 200
    assert call["visible"] and call["exposed"], "the pop-up is not on screen"
    assert call["number"] == NUMBER_SHOWN
    # shown, yet the agent's window stays active and keeps the keyboard (by Qt and by the X server)
    assert call["popup_active"] is False
    assert call["x_focus"] == "editor"
    assert call["active_window"] == "editor"
    assert call["focus_widget"] == "line_edit"
    assert result["typed_before_click"] == "hello"
    # clicking a button on the pop-up works and still leaves the focus where it was
    assert result["clipboard"] == NUMBER_SHOWN
    assert result["after_click"]["x_focus"] == "editor"
    assert result["after_click"]["focus_widget"] == "line_edit"
    assert result["line_text"] == "helloworld"
    # bottom-right corner of the screen, entirely on it
    assert inside(call["geometry"], call["screen_available"])
    x, y, w, h = call["geometry"]
    ax, ay, aw, ah = call["screen_available"]
    assert ax + aw - (x + w) < 40 and ay + ah - (y + h) < 40


@pytest.mark.parametrize("xvfb", [("-screen", "0", "2304x800x24")], indirect=True)
def test_the_pop_up_appears_on_the_screen_with_the_mouse_cursor(xvfb, tmp_path):
    result = run_probe(xvfb, tmp_path, "--monitor", "1280x800+0+0", "--monitor", "1024x768+1280+0",
                       "--cursor", "1500,300", "--cursor", "200,300")

    assert [s["name"] for s in result["screens"]] == ["M0", "M1"], result["screens"]
    right, left = result["calls"]
    assert right["cursor_screen"] == "M1" and right["screen"] == "M1"
    assert right["screen_geometry"] == [1280, 0, 1024, 768]
    assert inside(right["geometry"], right["screen_available"])
    assert left["cursor_screen"] == "M0" and left["screen"] == "M0"
    assert inside(left["geometry"], [0, 0, 1280, 800])
    assert right["x_focus"] == left["x_focus"] == "editor"
