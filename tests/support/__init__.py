"""Helpers shared by the test suite (real servers: see ``tests.support.servers``)."""

from .servers import (
    HttpFileServer,
    MariaDBServer,
    PostgresServer,
    S3Server,
    free_port,
)

__all__ = ["HttpFileServer", "MariaDBServer", "PostgresServer", "S3Server", "free_port"]
