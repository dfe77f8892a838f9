"""Shared fixtures of the packaging tests: where the built bundle is.

The tests run what ``make bundle`` built (``make test`` builds it first); they never build it
themselves -- a build takes ~25 s to minutes and its result must be the one that ships. A missing
bundle is a failure with the command to run, not a skip: a skipped packaging test reads as a
passed one in a green run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import app
from tests.fakes.fake_pbx import FakePbx
from tests.support import canary

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUNDLE_DIR = PROJECT_ROOT / "dist" / app.APP_NAME


@pytest.fixture(scope="session")
def bundle_dir() -> Path:
    """``dist/pbx-companion``: the one-folder bundle, its executable ``bundle_dir / app.APP_NAME``."""
    executable = BUNDLE_DIR / app.APP_NAME
    if not (executable.is_file() and os.access(executable, os.X_OK)):
        pytest.fail(f"no bundle at {executable}: run `make bundle` (packaging/bundle.sh) first", pytrace=False)
    return BUNDLE_DIR


@pytest.fixture(scope="session")
def bundle_exe(bundle_dir: Path) -> Path:
    """The bundle's executable: the tray app, or the command line with a subcommand."""
    return bundle_dir / app.APP_NAME


@pytest.fixture
def fake_pbx() -> Iterator[FakePbx]:
    """A real HTTP fake PBX (in a thread) that accepts the canary PBX key and records ``make_call``."""
    fake = FakePbx(api_key=canary.PBX_KEY)
    fake.start_in_thread()
    yield fake
    fake.stop_thread()


@pytest.fixture(scope="session")
def release_tarball(bundle_exe: Path) -> Path:
    """``dist/pbx-companion-<version>-linux-<arch>.tar.gz`` (``make tarball``), newer than the bundle."""
    tarball = BUNDLE_DIR.parent / f"{app.APP_NAME}-{app.__version__}-linux-{os.uname().machine}.tar.gz"
    if not tarball.is_file() or tarball.stat().st_mtime < bundle_exe.stat().st_mtime:
        pytest.fail(f"no release archive {tarball} newer than the bundle: run `make tarball`", pytrace=False)
    return tarball
