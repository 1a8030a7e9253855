"""``[core] hostname_callable`` for the Celery test: each local worker names itself.

Two ``airflow celery worker`` processes on one machine would report the same host name
on their task instances; the test gives each its own (``NPL_TEST_WORKER_HOSTNAME``) so
it can tell which worker ran which shard.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("NPL_TEST_WORKER_HOSTNAME") or socket.getfqdn()
