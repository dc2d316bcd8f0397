"""Starting a server child and waiting for its health URL; stopping children."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from harborctl.childproc import start_server_child, stop_child
from harborctl.errors import HarborHookError
from tests.support.services import free_port

# answers 200 on every GET, on the port given as its argument
SERVER = """
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""


def test_a_server_child_is_returned_once_its_health_url_answers(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    process = start_server_child(
        [sys.executable, "-c", SERVER, str(port)], url, tmp_path / "child.log", what="the child"
    )
    try:
        assert process.poll() is None
        assert httpx.get(url).status_code == 200
    finally:
        stop_child(process)
    assert process.returncode is not None


def test_a_child_that_exits_raises_naming_it_with_its_output(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('no such port'); sys.exit(3)"]
    with pytest.raises(HarborHookError) as raised:
        start_server_child(
            argv, f"http://127.0.0.1:{free_port()}/healthz", tmp_path / "child.log", what="the x"
        )
    assert str(raised.value).startswith("the x did not start:")
    assert "no such port" in str(raised.value)


def test_a_child_that_never_answers_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(HarborHookError, match="the sleeper did not start"):
        start_server_child(
            argv,
            f"http://127.0.0.1:{free_port()}/healthz",
            tmp_path / "child.log",
            what="the sleeper",
            timeout=0.5,
        )
