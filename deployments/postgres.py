"""A private PostgreSQL cluster under the data home, for Prefect's server and Optuna's studies.

The cluster lives in ``$DRIFTLINE_HOME/pg/data``, listens on 127.0.0.1 only (no Unix socket),
on a port of your choice, with password (SCRAM) authentication for one role, ``driftline``, whose
generated password is kept in ``$DRIFTLINE_HOME/state/pool/pg.password`` (mode 0600). It holds
two databases: ``prefect`` (the server's, through asyncpg) and ``optuna`` (the studies', through
psycopg 3, so one study's trials spread over every worker). PostgreSQL refuses to run as root:
run as root, the cluster is owned and run by the ``postgres`` system user (Debian's package
makes it), so the data home must be traversable by that user.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BIN = Path(os.environ.get("DRIFTLINE_PG_BIN", "/usr/lib/postgresql/15/bin"))
ROLE = "driftline"
DATABASES = ("prefect", "optuna")


class PostgresError(RuntimeError):
    """The cluster could not be initialised, started or stopped (the message says how to fix it)."""


@dataclass(frozen=True)
class Cluster:
    """One cluster: ``root`` holds ``data/`` and ``postgres.log``; ``secrets`` holds the password."""

    root: Path
    secrets: Path
    port: int = 5433

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def password_file(self) -> Path:
        return self.secrets / "pg.password"

    def password(self) -> str:
        return self.password_file.read_text(encoding="utf-8").strip()

    def url(self, database: str, driver: str) -> str:
        """``postgresql+<driver>://driftline:...@127.0.0.1:<port>/<database>``."""
        return f"postgresql+{driver}://{ROLE}:{self.password()}@127.0.0.1:{self.port}/{database}"

    # --- running the server binaries as the right user -------------------------------------
    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        if shutil.which("runuser") is None:
            raise PostgresError("running as root needs runuser to start PostgreSQL as 'postgres'")
        return ["runuser", "-u", "postgres", "--", *argv]

    def _run(self, argv: list[str], *, owner: bool = True) -> str:
        cmd = self._as_owner(argv) if owner else argv
        env = {**os.environ, "PGPASSWORD": self.password()} if self.password_file.exists() else None
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise PostgresError(f"{Path(argv[0]).name} failed: {detail[-1] if detail else done.returncode}")
        return done.stdout

    def _check_binaries(self) -> None:
        if not (BIN / "initdb").exists():
            raise PostgresError(f"no PostgreSQL binaries in {BIN}: apt-get install -y postgresql "
                                "(or set DRIFTLINE_PG_BIN)")

    # --- lifecycle ----------------------------------------------------------------------------
    def init(self) -> bool:
        """Create the cluster once; return whether it was created now."""
        self._check_binaries()
        if (self.data / "PG_VERSION").exists():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        self.secrets.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24), encoding="utf-8")
            self.password_file.chmod(0o600)
        # initdb reads the password from a file the cluster's owner can read; removed right after.
        pwfile = self.root / ".initdb.pw"
        pwfile.write_text(self.password(), encoding="utf-8")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        try:
            self._run([str(BIN / "initdb"), "-D", str(self.data), "-U", ROLE, f"--pwfile={pwfile}",
                       "--auth-host=scram-sha-256", "--auth-local=reject", "-E", "UTF8", "--locale=C.UTF-8"])
        except PostgresError as exc:
            raise PostgresError(f"{exc} (when root, every folder above {self.root} must be "
                                "traversable by the postgres user)") from exc
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# driftline: loopback only, TCP only\n"
                       "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")
        return True

    def running(self) -> bool:
        done = subprocess.run(self._as_owner([str(BIN / "pg_ctl"), "-D", str(self.data), "status"]),
                              capture_output=True, text=True, cwd="/")
        return done.returncode == 0

    def start(self) -> None:
        if self.running():
            return
        log = self.root / "postgres.log"
        self._run([str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60",
                   "-o", f"-p {self.port}", "start"])

    def stop(self) -> None:
        if (self.data / "PG_VERSION").exists() and self.running():
            self._run([str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def ensure_databases(self) -> None:
        """Create the Prefect and Optuna databases if they are missing (client binaries, over TCP)."""
        connect = ["-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE]
        for name in DATABASES:
            found = self._run([str(BIN / "psql"), *connect, "-d", "postgres", "-tAc",
                               f"SELECT 1 FROM pg_database WHERE datname = '{name}'"], owner=False)
            if found.strip() != "1":
                self._run([str(BIN / "createdb"), *connect, name], owner=False)
