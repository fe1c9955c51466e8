"""Shared test setup: one thread (faster on the shared cores), bounded hypothesis runs, and a throwaway
PostgreSQL server for the labelling store's and server's tests."""

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)
settings.register_profile("default", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


# -- a throwaway PostgreSQL server (the labelling store's and server's tests on PostgreSQL) --------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for version in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (version / name).is_file():
            return str(version / name)
    return None


class PostgresServer:
    """A running throwaway PostgreSQL server (user ``rewardlab``, trust auth, on 127.0.0.1:``port``):
    :meth:`new_database` makes an empty database and returns its SQLAlchemy URL."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._made = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://rewardlab@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        self._made += 1
        name = f"rewardlab_{self._made}"
        with psycopg.connect(f"postgresql://rewardlab@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server in a temporary directory on a free port, started once per session,
    or a skip saying why not. As root (initdb refuses root), it runs as the ``postgres`` user through
    ``runuser`` when that works without a password, in a directory that user owns."""
    pytest.importorskip("psycopg")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL's initdb / pg_ctl not found (install Debian's postgresql)")
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root (initdb refuses root) and there is no 'postgres' user to run it as")
        runuser = shutil.which("runuser")
        if runuser is None or subprocess.run([runuser, "-u", "postgres", "--", "true"], capture_output=True, timeout=10).returncode:
            pytest.skip("running as root (initdb refuses root) and `runuser -u postgres` does not work here")
        prefix = [runuser, "-u", "postgres", "--"]
        data = Path(tempfile.mkdtemp(prefix="rewardlab-pg-"))
        os.chown(data, user.pw_uid, user.pw_gid)
    else:
        data = tmp_path_factory.mktemp("pg")
    cluster, port = data / "cluster", free_port()
    try:
        made = subprocess.run(
            [*prefix, initdb, "-D", str(cluster), "-U", "rewardlab", "--auth=trust", "-E", "UTF8", "--no-sync"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if made.returncode:
            pytest.skip(f"initdb failed: {made.stderr.strip()[-300:]}")
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
        started = subprocess.run(
            [*prefix, pg_ctl, "-D", str(cluster), "-o", options, "-l", str(data / "log"), "-w", "-t", "60", "start"],
            capture_output=True,
            text=True,
            timeout=90,
        )
        if started.returncode:
            log = (data / "log").read_text(errors="replace")[-300:] if (data / "log").exists() else ""
            pytest.skip(f"pg_ctl start failed: {started.stderr.strip()[-300:]} {log}")
        try:
            yield PostgresServer(port)
        finally:
            subprocess.run([*prefix, pg_ctl, "-D", str(cluster), "-m", "immediate", "stop"], capture_output=True, timeout=60)
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of an empty database (one per test module) on the session's throwaway PostgreSQL server."""
    return postgres_server.new_database()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def label_backend(request: pytest.FixtureRequest) -> str:
    """The labelling store's database kind: a test (or module fixture) that takes it runs on a SQLite file
    and on the throwaway PostgreSQL server (skipped, with the reason, where none can start)."""
    return str(request.param)


@pytest.fixture(scope="module")
def new_label_db(request: pytest.FixtureRequest, label_backend: str) -> Callable[[Path], Path | str]:
    """Makes an empty labelling store of ``label_backend``'s kind: ``make(tmp)`` is ``tmp/labels.db`` or
    the URL of a new database on the throwaway PostgreSQL server."""
    server: PostgresServer | None = request.getfixturevalue("postgres_server") if label_backend == "postgresql" else None

    def make(tmp: Path) -> Path | str:
        return tmp / "labels.db" if server is None else server.new_database()

    return make


# -- headless Chromium (the labelling page's and the operator page's browser tests) ---------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Skips a browser test, with the reason, where Debian's chromium and its driver are missing.
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason=f"needs Debian's chromium and chromedriver at {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)",
)


def headless_chromium(window: str, *extra: str, console: bool = False) -> Iterator[object]:
    """A Selenium driver of Debian's chromium (``--headless --no-sandbox --disable-gpu``, ``window`` as
    ``"W,H"``, and ``extra`` switches), quit when the generator closes: a module fixture's body. With
    ``console``, the page's console messages are kept for ``driver.get_log("browser")``."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    if console:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", f"--window-size={window}", *extra):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


# -- a crash right after a checkpoint was written (the window a SIGKILL can hit) -------------------------------


class CrashAfterSave(Exception):
    """Raised by :func:`crash_after_save` once the chosen step's checkpoint is on disk."""


@contextlib.contextmanager
def crash_after_save(step: int) -> Iterator[None]:
    """Within the block, :meth:`~rewardlab.checkpoint.Checkpoint.save` raises :class:`CrashAfterSave` just
    after writing ``step``'s file: the fit dies with that step checkpointed and nothing after it (the class
    is patched because fits save through the bound copies ``Checkpoint.bind`` makes)."""
    from rewardlab.checkpoint import Checkpoint

    save = Checkpoint.save

    def crashing(self: Checkpoint, at: int, state: dict) -> Path:  # type: ignore[type-arg]
        path = save(self, at, state)
        if at == step:
            raise CrashAfterSave(f"crashed after saving step {at}")
        return path

    Checkpoint.save = crashing  # type: ignore[method-assign]
    try:
        yield
    finally:
        Checkpoint.save = save  # type: ignore[method-assign]
