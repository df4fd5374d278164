#!/usr/bin/env python3
"""moto's HTTP server with every request served under one global lock.

moto's own threaded server lets requests interleave inside the backends, so two
concurrent conditional writes to one DynamoDB item can both succeed. Real AWS
never allows that, and a test of a race (an oversell) would then exercise
moto's race instead of ours. Serialising whole requests here restores
per-request atomicity; the server stays threaded so that slow clients and
long-polls only hold the lock while moto itself is working.

Usage: moto_server_locked.py [--host 127.0.0.1] [--port 5000]
"""

import argparse
import io
import os
import signal
import sys
import threading
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class LockedApp:
    """WSGI middleware running the wrapped app one request at a time."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    @staticmethod
    def _buffer_request_body(environ: dict[str, Any]) -> None:
        # Read the upload before taking the lock, so a slow sender cannot stall
        # every other request.
        stream = environ.get("wsgi.input")
        if stream is None:
            return
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > 0:
            body = stream.read(length)
        elif environ.get("wsgi.input_terminated"):
            # Chunked uploads: werkzeug ends the stream at the last chunk.
            body = stream.read()
        else:
            return
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self._buffer_request_body(environ)
        with self.lock:
            result = self.app(environ, start_response)
            try:
                # Responses may be generators that still touch backend state
                # while they are iterated, so they are consumed under the lock.
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]


def _exit_cleanly(_signum: int, _frame: Any) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind")
    parser.add_argument(
        "-p",
        "--port",
        type=int,
        default=int(os.environ.get("MOTO_PORT", "5000")),
        help="port to listen on",
    )
    args = parser.parse_args(argv)

    # moto builds URLs back to itself (Lambda callbacks, for one) from this;
    # an inherited value would point at some other server.
    os.environ["MOTO_PORT"] = str(args.port)

    # SIGTERM (scripts/local-aws.sh stop) ends the process like Ctrl-C would.
    # SIGINT keeps its inherited disposition: a background emulator started by
    # a script ignores it, so Ctrl-C on a test run leaves cleanup to that script.
    signal.signal(signal.SIGTERM, _exit_cleanly)

    dispatcher = DomainDispatcherApplication(create_backend_app)
    # Same as moto_server: errors come back as responses carrying the traceback.
    dispatcher.debug = True  # type: ignore[attr-defined]

    run_simple(
        args.host,
        args.port,
        LockedApp(dispatcher),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
