"""The test writer (molecule/resources/writer.py) against a local HTTP server
that answers like etcd's gateway, or not."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "molecule" / "resources"))

import writer  # noqa: E402


def serve(reply: bytes):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def client():
    servers = []

    def make(reply: bytes):
        srv = serve(reply)
        servers.append(srv)
        return writer.Client(SimpleNamespace(endpoints=f"http://127.0.0.1:{srv.server_port}", timeout=2,
                                             cacert=None, cert=None, key=None))
    yield make
    for srv in servers:
        srv.shutdown()


def test_put_returns_the_revision(client):
    assert client(json.dumps({"header": {"revision": "42"}}).encode()).put("/k", "v") == 42


@pytest.mark.parametrize("reply", [b"{}", b'{"header": {}}', b'{"header": null}', b'{"header": {"revision": "x"}}'])
def test_a_reply_without_a_revision_is_a_failed_put(client, reply):
    # Counted as a failure by cmd_run, never a crash of the writer.
    with pytest.raises(RuntimeError, match="a reply without a revision"):
        client(reply).put("/k", "v")


def test_run_counts_replies_without_a_revision_as_failures(client, tmp_path):
    c = client(b"{}")
    out = tmp_path / "w.json"
    args = SimpleNamespace(duration=0.3, stop_file=None, prefix="/t/", tag="t", interval=0.05, out=str(out))
    assert writer.cmd_run(args, c) == 0
    result = json.loads(out.read_text())
    assert result["acked"] == {} and result["failures"] == result["attempts"] > 0
