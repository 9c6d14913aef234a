"""Katib's database on the local cluster: Debian's MariaDB, run like etcd.

Katib's ``katib-db-manager`` keeps every trial's observation log (the metrics
its collector read) in MySQL or PostgreSQL; the controller asks it for them to
decide the optimal trial. Upstream deploys MySQL as a pod. Here
``mariadb-server`` (installed by ``scripts/bootstrap.sh``) runs as a child of
the control plane with a data folder of its own, on a free port of
127.0.0.1, and stops with it.

The db-manager connects as a user of its own with a password made per start;
the password reaches it in its environment (``DB_PASSWORD``, as upstream's
Secret does), never on a command line.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .ports import free_ports

DATABASE = "katib"
"""Katib's default database name (``KATIB_MYSQL_DB_DATABASE``)."""
USER = "katib"
SERVER_CANDIDATES = ("/usr/sbin/mariadbd", "/usr/sbin/mysqld")
INSTALL_CANDIDATES = ("/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db")
CLIENT_CANDIDATES = ("/usr/bin/mariadb", "/usr/bin/mysql")


@dataclass(frozen=True)
class Connection:
    host: str
    port: int
    user: str
    password: str
    database: str = DATABASE

    def db_manager_env(self) -> dict[str, str]:
        """What ``katib-db-manager`` reads (its Deployment's env in upstream's manifests)."""
        return {
            "DB_NAME": "mysql",
            "DB_USER": self.user,
            "DB_PASSWORD": self.password,
            "KATIB_MYSQL_DB_HOST": self.host,
            "KATIB_MYSQL_DB_PORT": str(self.port),
            "KATIB_MYSQL_DB_DATABASE": self.database,
        }


def _first(candidates: tuple[str, ...], what: str) -> str:
    for path in candidates:
        if Path(path).exists():
            return path
    raise FileNotFoundError(
        f"{what} not found ({', '.join(candidates)}): run `make install`, which installs Debian's mariadb-server"
    )


class KatibDatabase:
    """MariaDB for ``katib-db-manager``; ``start`` returns how to connect."""

    name = "katib-mariadb"

    def __init__(self, cp) -> None:
        self.cp = cp
        self.home = cp.run_dir / "katib-mariadb"

    def start(self) -> Connection:
        server = _first(SERVER_CANDIDATES, "mariadbd")
        data = self.home / "data"
        # A fresh database per start, as etcd is fresh: trials of an earlier run are gone.
        shutil.rmtree(self.home, ignore_errors=True)
        data.mkdir(parents=True)
        subprocess.run(
            [
                _first(INSTALL_CANDIDATES, "mariadb-install-db"),
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        (port,) = free_ports(1)
        # A Unix socket path holds at most 107 bytes, less than a test's run folder can
        # take: the socket (for root's first login) lives in /tmp, named by the port.
        socket = Path(tempfile.gettempdir()) / f"mlops-mariadb-{port}.sock"
        self.cp.start_process(
            self.name,
            [
                server,
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={socket}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--user=root",
                f"--pid-file={self.home / 'mariadb.pid'}",
                "--innodb-buffer-pool-size=32M",
                "--skip-log-bin",
            ],
        )
        password = secrets.token_urlsafe(24)
        self._wait_and_run(
            socket,
            f"CREATE DATABASE {DATABASE}; "
            f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
            f"GRANT ALL ON {DATABASE}.* TO '{USER}'@'127.0.0.1';",
        )
        return Connection("127.0.0.1", port, USER, password)

    def _wait_and_run(self, socket: Path, sql: str, timeout: float = 60) -> None:
        """Run ``sql`` as root over the socket once the server answers (the SQL
        goes on stdin: it holds the password)."""
        client = _first(CLIENT_CANDIDATES, "the mariadb client")
        deadline = time.monotonic() + timeout
        while True:
            self.cp.check_alive(self.name)
            result = subprocess.run(
                [client, "--no-defaults", f"--socket={socket}", "-uroot"],
                input=sql,
                capture_output=True,
                text=True,
                timeout=30,
            )
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise self.cp.failure(self.name, f"did not accept SQL: {result.stderr.strip()}")
            time.sleep(0.3)
