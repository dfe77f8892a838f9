"""Icons: the committed application icon files match their SVG source, and the tray's state icons
can be told apart and stay legible on light and dark panels.

The icon files are drawn by packaging/icons.py (``make icons``); here the SVG is drawn again and
compared, so an SVG edited without regenerating the files fails.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image, ImageChops
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap

from app.ui import icons

GENERATOR = Path(__file__).resolve().parents[2] / "packaging" / "icons.py"
LIGHT_PANEL = "#f0f0f0"
DARK_PANEL = "#202020"
TRAY_SIZE = 22  # what most panels draw (GNOME/KDE 22 px, Windows 16-24 px)


@pytest.fixture(scope="module")
def generator(qapp) -> ModuleType:
    """packaging/icons.py as a module (it is a script, not part of the ``app`` package)."""
    spec = importlib.util.spec_from_file_location("icon_generator", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def differing_share(a: Image.Image, b: Image.Image, tolerance: int = 12) -> float:
    """Share of pixels whose colour or alpha differs by more than ``tolerance`` (of 255).

    Compared premultiplied, so that the colour of an almost transparent edge pixel, which rounding
    may change a lot without any visible effect, does not count.
    """
    assert a.size == b.size
    channels = ImageChops.difference(a.convert("RGBa"), b.convert("RGBa")).split()
    worst = channels[0]
    for channel in channels[1:]:
        worst = ImageChops.lighter(worst, channel)
    return sum(worst.histogram()[tolerance + 1:]) / (a.width * a.height)


def open_rgba(path: Path, size: tuple[int, int] | None = None) -> Image.Image:
    """One picture of an image file (``size`` picks the frame of an .ico/.icns) as RGBA."""
    with Image.open(path) as image:
        if size is not None:
            image.size = size
        if image.format == "ICNS":
            image.load(scale=1)  # else Pillow loads its "best" (largest) picture whatever the size says
        else:
            image.load()
        return image.convert("RGBA")


# -- the application icon -------------------------------------------------------------------------

@pytest.mark.parametrize("size", icons.APP_ICON_SIZES)
def test_each_png_has_exactly_its_size_and_a_transparent_outline(generator, size):
    image = open_rgba(generator.png_path(size))
    assert image.size == (size, size)
    alpha = image.getchannel("A")
    assert alpha.getextrema() == (0, 255), "the rounded tile needs transparent corners and an opaque body"
    opaque = sum(alpha.histogram()[255:]) / size**2
    assert 0.5 < opaque < 0.97


@pytest.mark.parametrize("size", icons.APP_ICON_SIZES)
def test_each_png_is_drawn_from_the_current_svg(generator, size):
    drawn = generator.to_pillow(generator.render_svg(generator.source_svg(), size))
    on_disk = open_rgba(generator.png_path(size))
    assert differing_share(drawn, on_disk) < 0.002, "the SVG changed: run `make icons` and commit the result"


def test_the_freshness_check_notices_a_changed_svg(generator, tmp_path):
    """The comparison above is strict enough: recolouring the waves alone is caught."""
    source = generator.source_svg().read_text(encoding="utf-8")
    assert 'stroke="#ffd54a"' in source
    changed = tmp_path / "changed.svg"
    changed.write_text(source.replace('stroke="#ffd54a"', 'stroke="#ffffff"'), encoding="utf-8")
    drawn = generator.to_pillow(generator.render_svg(changed, 64))
    assert differing_share(drawn, open_rgba(generator.png_path(64))) > 0.02


def test_the_icon_theme_carries_the_svg_itself(generator):
    scalable = generator.icon_dir() / "hicolor" / "scalable" / "apps" / generator.source_svg().name
    assert scalable.read_bytes() == generator.source_svg().read_bytes()


def test_the_ico_holds_every_windows_size_drawn_from_the_svg(generator):
    ico = generator.icon_dir() / "pbx-companion.ico"
    with Image.open(ico) as image:
        assert image.format == "ICO"
        assert set(image.info["sizes"]) == {(s, s) for s in generator.ICO_SIZES}
    for size in generator.ICO_SIZES:
        frame = open_rgba(ico, (size, size))
        drawn = generator.to_pillow(generator.render_svg(generator.source_svg(), size))
        assert differing_share(drawn, frame) < 0.002, f"{size} px frame of the .ico is stale: run `make icons`"


def test_the_icns_opens_with_the_mac_sizes_drawn_from_the_svg(generator):
    icns = generator.icon_dir() / "pbx-companion.icns"
    with Image.open(icns) as image:
        assert image.format == "ICNS"
        assert {w * scale for w, _, scale in image.info["sizes"]} == set(generator.ICNS_SIZES)
    frame = open_rgba(icns, (512, 512))
    drawn = generator.to_pillow(generator.render_svg(generator.source_svg(), 512))
    assert differing_share(drawn, frame) < 0.002, "the .icns is stale: run `make icons`"


def test_the_window_icon_offers_the_rendered_sizes_up_to_256(qapp, generator):
    app_icon = icons.app_icon()
    assert {s.width() for s in app_icon.availableSizes()} == {s for s in icons.APP_ICON_SIZES if s <= 256}
    shown = generator.to_pillow(app_icon.pixmap(QSize(48, 48)).toImage())
    assert differing_share(shown, open_rgba(generator.png_path(48))) < 0.002


# -- the tray icons -------------------------------------------------------------------------------

def tray_image(state: str, badge: int = 0, size: int = TRAY_SIZE) -> Image.Image:
    return _to_image(icons.state_pixmap(state, badge, size).toImage())


def _to_image(image: QImage) -> Image.Image:
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    return Image.frombytes("RGBA", (rgba.width(), rgba.height()), bytes(rgba.constBits()), "raw", "RGBA",
                           rgba.bytesPerLine())


def pixels(image: Image.Image) -> list[tuple[int, int, int, int]]:
    """The RGBA values of every pixel, row by row."""
    data = image.convert("RGBA").tobytes()
    return [tuple(data[i:i + 4]) for i in range(0, len(data), 4)]  # type: ignore[misc]


def _luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0-255 channels)."""
    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrasting_share(image: Image.Image, panel: str, ratio: float = 3.0) -> float:
    """Of the icon's mostly opaque pixels (alpha >= 50 %), the share that, drawn on ``panel``, has a
    WCAG contrast ratio of at least ``ratio`` with the panel (3:1 is WCAG's minimum for graphics)."""
    back = QColor(panel)
    back_rgb = (back.red(), back.green(), back.blue())
    back_lum = _luminance(back_rgb)
    glyph = contrasting = 0
    for r, g, b, a in pixels(image):
        if a < 128:
            continue
        glyph += 1
        f = a / 255
        shown = tuple(c * f + p * (1 - f) for c, p in zip((r, g, b), back_rgb, strict=True))
        lighter, darker = sorted((_luminance(shown), back_lum), reverse=True)
        contrasting += (lighter + 0.05) / (darker + 0.05) >= ratio
    assert glyph > TRAY_SIZE**2 * 0.2, "the icon is almost empty"
    return contrasting / glyph


def test_each_tray_state_looks_different(qapp):
    pictures = {state: tray_image(state) for state in (icons.IDLE, icons.RINGING, icons.OFFLINE)}
    for first, second in [(icons.IDLE, icons.RINGING), (icons.IDLE, icons.OFFLINE), (icons.RINGING, icons.OFFLINE)]:
        assert differing_share(pictures[first], pictures[second]) > 0.15, (first, second)
    # "missed" is the idle picture plus the count: without a count it is the idle icon
    assert differing_share(tray_image(icons.MISSED), pictures[icons.IDLE]) == 0


def test_the_missed_badge_shows_the_count(qapp):
    idle = tray_image(icons.IDLE, size=32)
    three = tray_image(icons.MISSED, 3, size=32)
    corner = (14, 0, 32, 18)  # the badge sits in the top-right corner
    assert differing_share(three.crop(corner), idle.crop(corner)) > 0.3
    reds = [p for p in pixels(three.crop(corner)) if p[3] == 255 and p[0] > 150 and p[1] < 80 and p[2] < 80]
    assert len(reds) > 40, "a red disc"
    assert differing_share(three, tray_image(icons.MISSED, 4, size=32)) > 0, "the number itself is drawn"
    assert differing_share(tray_image(icons.MISSED, 99, size=32), tray_image(icons.MISSED, 100, size=32)) > 0
    assert differing_share(tray_image(icons.MISSED, 100, size=32), tray_image(icons.MISSED, 2500, size=32)) == 0


@pytest.mark.parametrize(("state", "badge"), [
    (icons.IDLE, 0), (icons.RINGING, 0), (icons.OFFLINE, 0), (icons.MISSED, 3), (icons.MISSED, 120),
])
@pytest.mark.parametrize("panel", [LIGHT_PANEL, DARK_PANEL])
def test_tray_icons_are_legible_on_light_and_dark_panels(qapp, state, badge, panel):
    share = contrasting_share(tray_image(state, badge), panel)
    assert share >= 0.5, f"only {share:.0%} of the {state} icon stands out from a {panel} panel"


def test_the_legibility_measure_fails_a_glyph_that_vanishes(qapp):
    """A pale glyph with no outline disappears on a light panel: the measure must say so."""
    pixmap = QPixmap(TRAY_SIZE, TRAY_SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#e8e8e8"))
    painter.drawEllipse(2, 2, TRAY_SIZE - 4, TRAY_SIZE - 4)
    painter.end()
    pale = _to_image(pixmap.toImage())
    assert contrasting_share(pale, DARK_PANEL) > 0.9
    assert contrasting_share(pale, LIGHT_PANEL) < 0.05


def test_the_tray_icon_carries_the_sizes_panels_ask_for(qapp):
    sizes = {s.width() for s in icons.state_icon(icons.RINGING).availableSizes()}
    assert {16, 22, 24, 32} <= sizes  # drawn for each, never scaled blurry


@pytest.mark.parametrize("state", sorted(set(icons.TRAY_PICTURES.values())))
@pytest.mark.parametrize("size", icons.TRAY_SIZES)
def test_each_tray_png_is_drawn_from_the_current_svg(generator, state, size):
    drawn = generator.to_pillow(generator.render_svg(generator.tray_svg(state), size))
    on_disk = open_rgba(icons.tray_picture_path(state, size))
    assert on_disk.size == (size, size)
    assert differing_share(drawn, on_disk) < 0.002, "a tray SVG changed: run `make icons` and commit the result"


def test_a_missing_tray_picture_is_a_clear_error(qapp, tmp_path, monkeypatch):
    """An installation without the tray PNGs (the bundle's resources under sys._MEIPASS) says which file."""
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setattr(icons, "_pictures", {})
    with pytest.raises(FileNotFoundError, match=r"idle-22\.png"):
        icons.state_pixmap(icons.IDLE, 0, 22)


def test_an_unusual_panel_size_is_scaled_from_the_largest_picture(qapp):
    assert icons.state_pixmap(icons.RINGING, 0, 20).size() == QSize(20, 20)
    assert icons.state_pixmap(icons.MISSED, 7, 96).size() == QSize(96, 96)


def test_the_tray_process_never_loads_qtsvg():
    """The tray loads pre-rendered PNGs: QtSvg (and its rasteriser) stay out of the idle app."""
    code = ("import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
            "from PySide6.QtWidgets import QApplication; a = QApplication([])\n"
            "from app.ui import icons, tray, popup, mainwindow; icons.state_icon(icons.MISSED, 3)\n"
            "print(sorted(m for m in sys.modules if 'QtSvg' in m))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
