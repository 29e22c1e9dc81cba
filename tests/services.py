"""Real PostgreSQL and Redis on loopback, in temporary directories, for the test suite.

    python -m tests.services -- pytest -q      # start both, run the command with
                                               # DATABASE_URL / REDIS_URL set, stop both

The servers are deploy/services.py's (the same as `make serve-prod`), without fsync: the suite
tests process and network failures, not power cuts.
"""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

from deploy.services import Postgres, Redis, free_port

__all__ = ["free_port", "running_services"]


@contextlib.contextmanager
def running_services() -> Iterator[dict[str, str]]:
    postgres, redis = Postgres(durable=False), Redis()
    try:
        postgres.start()
        redis.start()
        yield {"DATABASE_URL": postgres.url, "REDIS_URL": redis.url}
    finally:
        redis.cleanup()
        postgres.cleanup()


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        print("usage: python -m tests.services -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with running_services() as urls:
        print(f"PostgreSQL at {urls['DATABASE_URL']}, Redis at {urls['REDIS_URL']}", flush=True)
        # Worker threads close their connections after each use, so the test database can be
        # dropped at the end.
        env = {**os.environ, **urls, "HUB_TEST_PROFILE": "prod", "DB_CONN_MAX_AGE": "0"}
        return subprocess.call(argv, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
