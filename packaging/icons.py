"""Regenerate the application icon files from their SVG source: ``make icons``.

Source: ``resources/icons/pbx-companion.svg``. Written next to it (and committed, so that building
the bundle and the installers needs neither this script nor Pillow):

- ``hicolor/<N>x<N>/apps/pbx-companion.png`` for the sizes in :data:`app.ui.icons.APP_ICON_SIZES`,
  and ``hicolor/scalable/apps/pbx-companion.svg`` (the freedesktop icon theme layout the .deb installs);
- ``pbx-companion.ico`` (Windows: 16-256 px, for the executable and the installer);
- ``pbx-companion.icns`` (macOS: 32-1024 px, the sizes Pillow writes, for the .app bundle);
- ``tray/<state>-<N>.png`` from ``tray/<state>.svg`` for the sizes in :data:`app.ui.icons.TRAY_SIZES`:
  the tray app loads these PNGs and never renders SVG itself (no QtSvg in the tray process).

Every size is drawn from the SVG by QtSvg rather than scaled down from one large bitmap, so small sizes stay sharp. tests/ui/test_icons.py re-renders the SVG and
fails when these files are older than their source.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from any directory

from PIL import Image
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from app import APP_NAME
from app.resources import resource_path
from app.ui.icons import APP_ICON_SIZES, TRAY_PICTURES, TRAY_SIZES, tray_picture_path

ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (32, 64, 128, 256, 512, 1024)


def icon_dir() -> Path:
    return resource_path("icons")


def source_svg() -> Path:
    return icon_dir() / f"{APP_NAME}.svg"


def png_path(size: int) -> Path:
    return icon_dir() / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_NAME}.png"


def tray_svg(picture: str) -> Path:
    return icon_dir() / "tray" / f"{picture}.svg"


def load_svg(path: Path) -> QSvgRenderer:
    """A renderer for the SVG file ``path``; raises if it is missing or QtSvg cannot draw it.

    Checked here because QSvgRenderer itself only logs a Qt warning and then draws nothing, which
    would leave an invisible icon and no clue why.
    """
    if not path.is_file():
        raise FileNotFoundError(f"icon {path} is missing")
    renderer = QSvgRenderer(str(path))
    if not renderer.isValid():
        raise ValueError(f"icon {path} is not an SVG file QtSvg can draw")
    return renderer


def render_svg(path: Path, size: int) -> QImage:
    """``path`` drawn at ``size`` x ``size`` pixels on transparency."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    load_svg(path).render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def to_pillow(image: QImage) -> Image.Image:
    """A QImage as an RGBA Pillow image (straight, not premultiplied, alpha)."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    return Image.frombuffer("RGBA", (rgba.width(), rgba.height()), bytes(rgba.constBits()), "raw", "RGBA",
                            rgba.bytesPerLine(), 1).copy()


def generate() -> list[Path]:
    """Write every icon file; returns their paths."""
    svg = source_svg()
    written = []
    for size in APP_ICON_SIZES:
        path = png_path(size)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not render_svg(svg, size).save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        written.append(path)

    scalable = icon_dir() / "hicolor" / "scalable" / "apps" / svg.name
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(svg, scalable)
    written.append(scalable)

    ico = icon_dir() / f"{APP_NAME}.ico"
    ico_frames = [to_pillow(render_svg(svg, size)) for size in ICO_SIZES]
    ico_frames[-1].save(ico, format="ICO", sizes=[(s, s) for s in ICO_SIZES], append_images=ico_frames[:-1])
    written.append(ico)

    icns = icon_dir() / f"{APP_NAME}.icns"
    icns_frames = [to_pillow(render_svg(svg, size)) for size in ICNS_SIZES]
    icns_frames[-1].save(icns, format="ICNS", append_images=icns_frames[:-1])
    written.append(icns)

    for state in sorted(set(TRAY_PICTURES.values())):
        for size in TRAY_SIZES:
            path = tray_picture_path(state, size)
            if not render_svg(tray_svg(state), size).save(str(path), "PNG"):
                raise OSError(f"could not write {path}")
            written.append(path)
    return written


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # QtSvg draws through QtGui
    root = Path(__file__).resolve().parents[1]
    for path in generate():
        print(f"icons: wrote {path.relative_to(root) if path.is_relative_to(root) else path}")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
