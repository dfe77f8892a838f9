"""A real, throw-away PostgreSQL server for the tests, started and stopped by the tests themselves.

The team server keeps its data in PostgreSQL, so the storage tests must run against the real thing,
not a mock and not SQLite. They cannot rely on a cluster of the machine (none in a container or in
CI, no systemd to start one, and a developer's own cluster must not be touched), so
:class:`PostgresServer` makes its own:

* a fresh directory from :func:`tempfile.mkdtemp` (in /dev/shm when it is a big tmpfs) holds the
  data directory, the log and the Unix socket, so several test processes can each run a server side
  by side; servers left behind by killed test sessions are reaped on the next start;
* ``initdb`` creates the cluster (UTF-8, locale C.UTF-8 when the system has it, else C; ``trust``
  for local connections, no password) and ``pg_ctl -w start`` starts it;
* the server listens on its Unix socket only (``listen_addresses = ''``): nothing on the network,
  and no port can clash with another server (the port number only names the socket file);
* :meth:`PostgresServer.url` gives a libpq URI that psycopg accepts, e.g.
  ``postgresql://pbxcompanion-pg@/dbname?host=/tmp/pbxcompanion-pg-abc123&port=54321``.

``initdb`` and ``pg_ctl`` refuse to run as root, and the tests run as root in the container and in
CI. So when root, the server runs as an unprivileged system user, :data:`SERVER_USER`, created on
first use (``useradd --system``); otherwise it runs as the current user. The binaries come from
Debian's ``postgresql`` package (``bash packaging/bootstrap.sh`` installs it); when they are missing
this raises :class:`PostgresNotInstalled` instead of letting the tests skip silently.

Typical use (``tests/conftest.py`` wraps it in the ``postgres_server`` and ``postgres_url``
fixtures)::

    with PostgresServer() as server:
        url = server.create_database("t_calls")
        with psycopg.connect(url) as conn:
            ...
        server.drop_database("t_calls")
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

#: The OS user the server runs as when the tests run as root (initdb refuses root).
SERVER_USER = "pbxcompanion-pg"
#: The PostgreSQL major version the team server targets; a newer one is accepted when 15 is absent.
MAJOR_VERSION = 15
#: Overrides where initdb, pg_ctl and postgres are looked for (a directory).
BINDIR_ENV = "PBX_COMPANION_PG_BINDIR"
#: Overrides the directory the servers' temporary directories are made in.
TMPDIR_ENV = "PBX_COMPANION_PG_TMPDIR"

_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_INSTALL_HINT = "run `bash packaging/bootstrap.sh` (it installs Debian's `postgresql` package)"
# A Unix socket path must fit in sockaddr_un.sun_path (108 bytes with the NUL on Linux).
_MAX_SOCKET_PATH = 107
_START_TIMEOUT = 60  # seconds, for pg_ctl -w start/stop
_MIN_SHM_BYTES = 1 << 30  # /dev/shm is used for the data when it has this much room
_OWNER_FILE = "owner"  # "PID START-TIME" of the process that made the directory

# Appended to postgresql.conf. Settings passed with `pg_ctl -o` would go through a shell, so the
# file is the safer place for a path such as the socket directory.
_SETTINGS = """
# --- tests/support/postgres.py ---
listen_addresses = ''                  # Unix socket only: nothing on the network
unix_socket_directories = '{socket_dir}'
unix_socket_permissions = 0700         # only the server's user (and root) may connect
port = {port}                          # only names the socket file: .s.PGSQL.{port}
max_connections = 300                  # pools of several engines plus concurrency tests
shared_buffers = 32MB
# No fsync and no full-page writes: the tests kill our processes (the team server, its clients,
# even this postgres), never the machine, and what a killed process wrote is already in the OS
# page cache, so every crash the tests make is still recovered exactly. Only an OS crash or a
# power cut could lose or tear pages, and a test database is thrown away anyway.
# synchronous_commit stays on: a commit still write()s its WAL before it is acknowledged, so a
# killed postgres loses no acknowledged commit (with it off, commits could sit in shared memory).
fsync = off
full_page_writes = off
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
"""


class PostgresNotInstalled(RuntimeError):
    """The PostgreSQL server binaries (initdb, pg_ctl, postgres) are not on this machine."""


class PostgresStartFailed(RuntimeError):
    """initdb or pg_ctl failed; the message carries their output and the end of the server log."""


def find_bindir() -> Path:
    """The directory with initdb, pg_ctl and postgres.

    ``$PBX_COMPANION_PG_BINDIR`` if set; else Debian's ``/usr/lib/postgresql/15/bin``; else the
    newest ``/usr/lib/postgresql/N/bin`` with N >= 15 (Ubuntu's ``postgresql`` may be a newer major:
    the schema is written for 15 and newer servers run it unchanged).
    """
    wanted = ("initdb", "pg_ctl", "postgres")

    def complete(bindir: Path) -> bool:
        return all(os.access(bindir / name, os.X_OK) for name in wanted)

    override = os.environ.get(BINDIR_ENV)
    if override:
        if complete(Path(override)):
            return Path(override)
        raise PostgresNotInstalled(f"${BINDIR_ENV}={override} does not hold {', '.join(wanted)}; "
                                   f"unset it and {_INSTALL_HINT}")
    candidates = []
    with contextlib.suppress(OSError):
        for entry in _DEBIAN_ROOT.iterdir():
            if entry.name.isdigit() and int(entry.name) >= MAJOR_VERSION and complete(entry / "bin"):
                candidates.append(int(entry.name))
    if candidates:
        major = MAJOR_VERSION if MAJOR_VERSION in candidates else max(candidates)
        return _DEBIAN_ROOT / str(major) / "bin"
    raise PostgresNotInstalled(
        f"PostgreSQL {MAJOR_VERSION} server binaries ({', '.join(wanted)}) not found in "
        f"{_DEBIAN_ROOT}/{MAJOR_VERSION}/bin; {_INSTALL_HINT}, or point ${BINDIR_ENV} at them")


def ensure_server_user(name: str = SERVER_USER) -> pwd.struct_passwd:
    """The unprivileged system user the server runs as when we are root, created when missing.

    A system user with no home and no login shell: it only owns the test clusters. Several test
    processes may race to create it; useradd then fails in all but one (the user exists, or
    /etc/passwd is locked), so a failure counts only if the user is still missing afterwards.
    """
    for attempt in range(20):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
        if shutil.which("useradd") is None:
            raise PostgresStartFailed(f"user {name!r} is missing and there is no useradd to create it")
        done = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                               "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                              capture_output=True, text=True, check=False)
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
        if done.returncode != 10 or attempt == 19:  # 10: cannot lock /etc/passwd, try again later
            raise PostgresStartFailed(f"useradd {name} failed ({done.returncode}): {done.stderr.strip()}")
        time.sleep(0.1)
    raise AssertionError("unreachable")


def _free_port() -> int:
    """A TCP port nobody listens on now. The server does not listen on TCP; the number only names
    its socket file, but a free one keeps it usable if a test ever turns TCP on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _have_c_utf8() -> bool:
    """Whether the C.UTF-8 locale exists (glibc >= 2.35 has it built in; older Debian ships it).

    It is preferred to plain C: same byte-order sorting, but lower()/upper() and ILIKE know
    non-ASCII letters (Cyrillic names), which C does not.
    """
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    return any(line.strip().lower().replace("-", "") == "c.utf8" for line in out.splitlines())


def _usable_base_dir() -> str:
    """Where the server's directory goes.

    ``$PBX_COMPANION_PG_TMPDIR`` if set. Else /dev/shm when it is a big enough tmpfs: the data is
    thrown away anyway, and on a disk-backed /tmp the writeback of other work made CREATE DATABASE
    (7-8 MB written each time) take 50-500 ms instead of a steady ~40 ms. (Docker's default /dev/shm
    is only 64 MB, too small for a cluster and its test databases, hence the size check.) Else the
    usual temp dir, unless the socket path would be too long there or the server's user could not
    reach it (e.g. TMPDIR inside a 0700 root directory); then /tmp.
    """
    override = os.environ.get(TMPDIR_ENV)
    if override:
        return override
    with contextlib.suppress(OSError):
        shm = os.statvfs("/dev/shm")
        if shm.f_bavail * shm.f_frsize >= _MIN_SHM_BYTES and os.stat("/dev/shm").st_mode & 0o1777 == 0o1777:
            return "/dev/shm"
    base = tempfile.gettempdir()
    too_long = len(base) + len("/pbxcompanion-pg-XXXXXXXX/.s.PGSQL.65535") > _MAX_SOCKET_PATH
    if os.geteuid() == 0:
        reachable = all(os.stat(p).st_mode & 0o001 for p in [base, *map(str, Path(base).parents)])
    else:
        reachable = True
    return base if reachable and not too_long else "/tmp"


def _process_start(pid: int) -> str | None:
    """The start time of a process (field 22 of /proc/PID/stat), None when it is gone. With the pid
    it names one process for good: a pid reused later has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def reap_stale_servers(base: str) -> None:
    """Stop and remove the servers of test processes that died without stopping them.

    A session killed outright (SIGKILL, a cancelled CI job) runs neither its fixture teardown nor
    atexit, and its postmaster lives on, in /dev/shm holding memory until reboot. Each server's
    directory names its creating process in ``owner``; when that process is gone the postmaster
    gets SIGQUIT (immediate shutdown) and the directory is removed. Directories without a readable
    ``owner`` (one being created right now) are left alone.
    """
    if not Path("/proc/self/stat").exists():
        return
    for directory in Path(base).glob("pbxcompanion-pg-*"):
        try:
            pid_text, started = (directory / _OWNER_FILE).read_text().split()
        except (OSError, ValueError):
            continue
        if _process_start(int(pid_text)) == started:
            continue  # its session is still running
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = int((directory / "data" / "postmaster.pid").read_text().splitlines()[0])
            if Path(f"/proc/{postmaster}/exe").resolve().name == "postgres":
                os.kill(postmaster, signal.SIGQUIT)
                deadline = time.monotonic() + 10
                while _process_start(postmaster) is not None and time.monotonic() < deadline:
                    time.sleep(0.05)
        shutil.rmtree(directory, ignore_errors=True)


class PostgresServer:
    """One PostgreSQL cluster in its own temporary directory, running until :meth:`stop`.

    Construct, then :meth:`start` (or use it as a context manager). Safe to use from several test
    processes at once: each server has its own directory, socket and port. Not meant to be shared
    across a fork: only the process that started it stops it (also at interpreter exit, so a
    session that dies without running its fixture teardown still does not leave servers behind).
    """

    def __init__(self, *, bindir: Path | str | None = None, user: str | None = None) -> None:
        """bindir: where initdb/pg_ctl live (default :func:`find_bindir`); user: the OS user to run
        the server as when root (default :data:`SERVER_USER`). Raises :class:`PostgresNotInstalled`
        early, before anything is created, when the binaries are missing."""
        self.bindir = Path(bindir) if bindir is not None else find_bindir()
        self._root = os.geteuid() == 0
        if self._root:
            account = ensure_server_user(user or SERVER_USER)
        else:
            account = pwd.getpwuid(os.geteuid())
        #: the OS user running the server, which initdb also makes the database superuser
        self.user: str = account.pw_name
        self._uid, self._gid = account.pw_uid, account.pw_gid
        self.port: int = 0
        self.directory: Path | None = None  # holds data/, postgres.log and the socket
        self._owner_pid = os.getpid()
        self._running = False

    # --- paths --------------------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        return self._dir() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._dir()

    @property
    def log_path(self) -> Path:
        return self._dir() / "postgres.log"

    def log(self) -> str:
        """The server log so far (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _dir(self) -> Path:
        if self.directory is None:
            raise RuntimeError("the server is not started")
        return self.directory

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create the cluster in a new temporary directory and start it; returns self."""
        if self.directory is not None:
            raise RuntimeError("already started")
        self._owner_pid = os.getpid()
        base = _usable_base_dir()
        reap_stale_servers(base)
        self.directory = Path(tempfile.mkdtemp(prefix="pbxcompanion-pg-", dir=base))
        try:
            (self.directory / _OWNER_FILE).write_text(f"{os.getpid()} {_process_start(os.getpid())}\n")
            if self._root:
                # mkdtemp made it 0700 root; the server's user must own it (pytest's own temp dirs
                # are 0700 root too, which is why they are not used here)
                os.chown(self.directory, self._uid, self._gid)
            locale = "C.UTF-8" if _have_c_utf8() else "C"
            self._run("initdb", "--pgdata", str(self.datadir), "--username", self.user, "--encoding", "UTF8",
                      "--locale", locale, "--auth-local", "trust", "--auth-host", "reject", "--no-sync",
                      "--no-instructions")
            self.port = _free_port()
            with (self.datadir / "postgresql.conf").open("a") as conf:
                conf.write(_SETTINGS.format(socket_dir=str(self.socket_dir).replace("'", "''"), port=self.port))
            self._run("pg_ctl", "start", "--wait", "--timeout", str(_START_TIMEOUT), "--pgdata", str(self.datadir),
                      "--log", str(self.log_path))
            self._running = True
            atexit.register(self.stop)
        except BaseException:
            self._remove_directory()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are cut) and remove its directory.

        Idempotent, and it never raises because of a server that already died: a test may have
        killed it. A server that does not stop within the timeout is stopped in immediate mode.
        """
        if os.getpid() != self._owner_pid or self.directory is None:
            return
        atexit.unregister(self.stop)
        if self._running and (self.datadir / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                try:
                    self._run("pg_ctl", "stop", "--wait", "--timeout", str(_START_TIMEOUT), "--mode", mode,
                              "--pgdata", str(self.datadir))
                    break
                except PostgresStartFailed:
                    if not (self.datadir / "postmaster.pid").exists():
                        break
        self._running = False
        self._remove_directory()

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<PostgresServer {self.user}@{self.directory} port={self.port} running={self._running}>"

    # --- databases ----------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """The libpq URI of a database on this server, for psycopg.connect / psycopg_pool.

        The user is in the authority, the socket directory and port in the query (a path cannot
        be a URI host), e.g. ``postgresql://pbxcompanion-pg@/db?host=/tmp/pbxcompanion-pg-x&port=5``.
        """
        if not self._running:
            raise RuntimeError("the server is not running")
        return (f"postgresql://{quote(self.user, safe='')}@/{quote(dbname, safe='')}"
                f"?host={quote(str(self.socket_dir), safe='/')}&port={self.port}")

    def create_database(self, name: str, *, template: str = "template0") -> str:
        """Create an empty database and return its URL.

        From template0 by default (nobody ever connects to it, so the copy cannot fail because
        template1 is in use); pass a database prepared once (schema loaded, no one connected) as
        ``template`` to clone it instead. Names longer than PostgreSQL's 63 bytes are refused
        rather than silently truncated.
        """
        self._check_name(name)
        self._check_name(template)
        self.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database if it exists, cutting off whoever is still connected (WITH (FORCE))."""
        self._check_name(name)
        self.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def execute(self, query: sql.Composable | str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement in autocommit mode (CREATE/DROP DATABASE cannot run in a transaction)
        on its own short connection, and return its rows (empty when it returns none)."""
        with psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(query)
            return cur.fetchall() if cur.description is not None else []

    @staticmethod
    def _check_name(name: str) -> None:
        if not name or len(name.encode()) > 63 or "\0" in name:
            raise ValueError(f"not a usable PostgreSQL database name: {name!r} (1 to 63 bytes)")

    # --- helpers ------------------------------------------------------------------------------

    def _run(self, program: str, *args: str) -> None:
        """Run a PostgreSQL program as the server's user, raising PostgresStartFailed with its
        output (and the server log's tail) if it fails."""
        command = [str(self.bindir / program), *args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and not re.match(r"LC_|LANG", k)}
        env.update(HOME=str(self._dir()), LC_ALL="C")  # English messages, whatever the caller's locale
        privileges: dict[str, Any] = {}
        if self._root:
            privileges = {"user": self._uid, "group": self._gid, "extra_groups": []}
        # pg_ctl start leaves the postmaster running with its output redirected to --log, so it
        # does not hold our pipes open and run() returns once the server is up.
        done = subprocess.run(command, cwd=self._dir(), env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", check=False, timeout=_START_TIMEOUT + 30, **privileges)
        if done.returncode != 0:
            tail = "\n".join(self.log().splitlines()[-30:])
            raise PostgresStartFailed(f"{program} failed with exit code {done.returncode}:\n{done.stdout}{done.stderr}"
                                      + (f"\n--- {self.log_path} (tail) ---\n{tail}" if tail else ""))

    def _remove_directory(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
