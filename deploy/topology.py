"""The production topology on loopback: PostgreSQL + Redis + N hub processes + nginx."""

import contextlib
import os
import tempfile
from collections.abc import Iterator

from deploy.services import ROOT, Daphne, Nginx, Postgres, Redis, hub_env, manage
from handoff_hub.upload_limit import request_body_bytes


class Topology:
    """Start everything with `start()`, stop it with `stop()`; each piece can be restarted."""

    def __init__(
        self,
        workers: int = 2,
        data_dir: str | None = None,
        durable: bool = True,
        nginx: bool = True,
        nginx_port: int = 0,
        extra_env: dict | None = None,
        log=print,
    ):
        self.workdir = data_dir or tempfile.mkdtemp(prefix="hub-prod-")
        os.makedirs(self.workdir, exist_ok=True)
        # PostgreSQL runs as `postgres` and nginx's workers as `nobody`: both must get in.
        os.chmod(self.workdir, 0o755)
        self.postgres = Postgres(os.path.join(self.workdir, "postgres"), durable=durable)
        self.postgres.throwaway = data_dir is None
        self.redis = Redis()
        self.workers = workers
        self.want_nginx = nginx
        self.nginx_port = nginx_port
        self.extra_env = extra_env or {}
        self.daphnes: list[Daphne] = []
        self.nginx: Nginx | None = None
        self.env: dict = {}
        self.log = log
        self.static_root = os.path.join(self.workdir, "static")

    @property
    def url(self) -> str:
        return self.nginx.url if self.nginx else self.daphnes[0].url

    def start(self) -> None:
        self.log(f"PostgreSQL on 127.0.0.1:{self.postgres.port} ({self.postgres.root})")
        self.postgres.start()
        database_url = self._database("hub")
        self.log(f"Redis on 127.0.0.1:{self.redis.port}")
        self.redis.start()
        self.env = hub_env(
            database_url,
            self.redis.url,
            STATIC_ROOT=self.static_root,
            **self.extra_env,
        )
        self.log("Migrating and collecting static files")
        manage(self.env, "migrate", "--noinput", "-v", "0")
        manage(self.env, "collectstatic", "--noinput", "-v", "0")
        for folder in (self.workdir, self.static_root):
            os.chmod(folder, 0o755)
        logs = os.path.join(self.workdir, "logs")
        os.makedirs(logs, exist_ok=True)
        self.daphnes = [Daphne(self.env, log_dir=logs) for _ in range(self.workers)]
        for daphne in self.daphnes:
            daphne.start(wait=False)
        for daphne in self.daphnes:
            daphne.wait_healthy()
            self.log(f"Hub process on {daphne.url} (log {daphne.log_path})")
        if self.want_nginx:
            self.nginx = Nginx(
                [d.port for d in self.daphnes],
                self.static_root,
                port=self.nginx_port,
                max_body_bytes=request_body_bytes(self.env),
            )
            self.nginx.start()
            self.log(f"nginx on {self.nginx.url}")

    def _database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.postgres.url, autocommit=True) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
        if not exists:
            return self.postgres.create_database(name)
        return self.postgres.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.cleanup()
        for daphne in self.daphnes:
            daphne.stop()
        self.redis.cleanup()
        self.postgres.cleanup()


@contextlib.contextmanager
def running_topology(**options) -> Iterator[Topology]:
    topology = Topology(**options)
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()


__all__ = ["ROOT", "Topology", "running_topology"]
