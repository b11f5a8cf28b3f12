"""A throwaway PostgreSQL server from the Debian package: ``initdb`` + ``pg_ctl`` in a data
folder of our own, on a free loopback port, never as a system service.

Why it exists: the production profile keeps Dagster's instance (runs, event logs, schedules,
sensor cursors) in PostgreSQL, and the end-to-end test must run that for real on a machine
without Docker. PostgreSQL refuses to run as root, so when we are root the server runs as an
unprivileged user (``postgres`` if the package created it, else ``nobody``) in a folder that
user owns; otherwise it runs as us.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from energy_orchestration.streaming.broker import free_port


class PostgresError(RuntimeError):
    pass


def postgres_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` (``PG_BIN_DIR`` overrides); a clear error
    saying how to install it otherwise."""
    explicit = os.environ.get("PG_BIN_DIR")
    if explicit:
        return Path(explicit)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PostgresError("PostgreSQL is not installed: run `make postgresql` (Debian package `postgresql`)")


def _unprivileged_user() -> pwd.struct_passwd | None:
    """Who runs the server: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresError("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


@dataclass
class LocalPostgres:
    """One PostgreSQL cluster with one database and a password-protected role.

    ``connection_env()`` gives the ``DAGSTER_PG_*`` variables the production ``dagster.yaml``
    reads, so the instance is configured exactly as in a deployment."""

    database: str = "dagster"
    user: str = "dagster"
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    root: Path | None = None
    _owner: pwd.struct_passwd | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        assert self.root is not None
        return self.root / "postgres.log"

    def _run(self, *command: str, input_text: str | None = None) -> str:
        owner = self._owner

        def demote() -> None:
            if owner is not None:
                os.setgid(owner.pw_gid)
                os.setuid(owner.pw_uid)

        result = subprocess.run(command, input=input_text, capture_output=True, text=True, preexec_fn=demote,
                                cwd=str(self.root), env={**os.environ, "LC_ALL": "C.UTF-8", "PGTZ": "UTC"},
                                timeout=120)
        if result.returncode != 0:
            raise PostgresError(f"{' '.join(command[:2])} failed ({result.returncode}): "
                                f"{result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def start(self, timeout: float = 60.0) -> "LocalPostgres":
        bin_dir = postgres_bin_dir()
        self._owner = _unprivileged_user()
        # Our own folder under the system temp dir: a pytest tmp_path (mode 0700, root's) is not
        # reachable for the unprivileged server user.
        self.root = Path(tempfile.mkdtemp(prefix="energy-pg-"))
        if self._owner is not None:
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
        self.port = self.port or free_port()
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._owner is not None:
            os.chown(pwfile, self._owner.pw_uid, self._owner.pw_gid)
        pwfile.chmod(0o600)
        self._run(str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.user, "--pwfile", str(pwfile),
                  "--auth", "scram-sha-256", "-E", "UTF8", "--no-instructions")
        pwfile.unlink()
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options,
                  "-w", "-t", str(int(timeout)), "start")
        self._create_database(bin_dir)
        return self

    def create_database(self, name: str) -> None:
        """Another empty database on this server (owned by ``user``), e.g. one per test."""
        self._create_database(postgres_bin_dir(), name)

    def _create_database(self, bin_dir: Path, name: str | None = None) -> None:
        env_password = {"PGPASSWORD": self.password}
        old = {k: os.environ.get(k) for k in env_password}
        os.environ.update(env_password)
        try:
            self._run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                      name or self.database)
        finally:
            for key, value in old.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def connection_env(self) -> dict[str, str]:
        return {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USER": self.user,
                "DAGSTER_PG_PASSWORD": self.password, "DAGSTER_PG_DB": self.database}

    def stop(self) -> None:
        """Fast shutdown and the folder removed; safe to call twice."""
        if self.root is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run(str(postgres_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                          "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> "LocalPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

