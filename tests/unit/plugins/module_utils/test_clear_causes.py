"""Why a member does not answer (module_utils/_etcdctl.py): dial causes from
the text etcdctl and gRPC print, TCP probes, per-member findings and the
count of consecutive checks that lets a health gate give up early."""
import json
import socket

import pytest

from ansible_collections.raftops.etcd.plugins.module_utils import _etcdctl as u

from conftest import FIXTURES

# etcdctl's warn line while it retries a call to an endpoint whose port is
# closed (gRPC's dial error inside etcd's client log), then its answer.
REFUSED_LOG = (
    '{"level":"warn","ts":"2025-01-10T10:00:00.000Z","logger":"etcd-client","caller":"v3@v3.5.30/retry_interceptor.go:62",'
    '"msg":"retrying of unary invoker failed","target":"etcd-endpoints://0xc0002f85a0/10.1.1.14:2379",'
    '"method":"/etcdserverpb.KV/Range","attempt":0,"error":"rpc error: code = DeadlineExceeded desc = latest balancer '
    'error: connection error: desc = \\"transport: Error while dialing: dial tcp 10.1.1.14:2379: connect: connection '
    'refused\\""}\nError: unhealthy cluster\n')
NO_ROUTE = ('rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: '
            'dial tcp 172.31.206.12:2379: connect: no route to host"')
IO_TIMEOUT = ('rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: '
              'dial tcp 172.31.206.12:2379: i/o timeout"')


@pytest.mark.parametrize("text,cause", [
    (REFUSED_LOG, "refused"),
    (NO_ROUTE, "unreachable"),
    (IO_TIMEOUT, "unreachable"),
    ("dial tcp 10.0.0.1:2379: connect: network is unreachable", "unreachable"),
    # What `endpoint health` answers for a dead endpoint (captured): says nothing of why.
    ("context deadline exceeded", None),
    ("failed to commit proposal: context deadline exceeded", None),
    ("", None),
])
def test_dial_cause(text, cause):
    assert u.dial_cause(text) == cause


def test_dial_cause_of_captured_endpoint_health_down_is_unclear():
    for version in ("3.4.23", "3.5.30", "3.6.16", "3.7.3"):
        item = json.loads((FIXTURES / version / "endpoint_health_down.json").read_text())[0]
        assert not item["health"] and u.dial_cause(item["error"]) is None


def test_dial_error_is_cut_out_of_the_json_log():
    assert u.dial_error(REFUSED_LOG) == "dial tcp 10.1.1.14:2379: connect: connection refused"
    assert u.dial_error("Error: context deadline exceeded") is None


def test_probe_refused_on_a_closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # bound once, nothing listens now
    found = u.probe_endpoint("https://127.0.0.1:%d" % port, 2)
    assert found["cause"] == "refused" and "connection refused" in found["detail"]


def test_probe_reaches_a_listening_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        found = u.probe_endpoint("https://127.0.0.1:%d" % sock.getsockname()[1], 2)
    finally:
        sock.close()
    assert found["cause"] == "reachable"


@pytest.mark.parametrize("exc,cause", [
    (socket.timeout("timed out"), "unreachable"),
    (OSError(113, "No route to host"), "unreachable"),
    (OSError(101, "Network is unreachable"), "unreachable"),
    (OSError(111, "Connection refused"), "refused"),
    (socket.gaierror(-2, "Name or service not known"), None),
])
def test_probe_classifies_connect_errors(monkeypatch, exc, cause):
    def connect(address, timeout):
        assert address == ("10.0.0.12", 2379) and timeout == 3
        raise exc
    monkeypatch.setattr(u.socket, "create_connection", connect)
    assert u.probe_endpoint("https://10.0.0.12:2379", 3)["cause"] == cause


def test_probe_does_not_guess_at_what_it_cannot_dial():
    assert u.probe_endpoint("unix://etcd.sock", 1)["cause"] is None


def member(name, healthy=False, error="", reach=None, started=True, alarmed=False):
    return dict(name=name, started=started, healthy=healthy, alarmed=alarmed, health_error=error,
                client_urls=["https://10.0.0.12:2379"] if started else [], reachability=reach)


def test_member_finding():
    assert u.member_finding(member("etcd-1", healthy=True)) is None
    assert u.member_finding(member("etcd-1", alarmed=True, error="Active Alarm(s): NOSPACE")) is None
    assert u.member_finding(member("", started=False)) is None
    cut = u.member_finding(member("etcd-2", error="dial tcp 10.0.0.12:2379: connect: no route to host",
                                  reach=dict(cause="unreachable", detail="dial tcp 10.0.0.12:2379: connect: no route to host")))
    assert cut == dict(cause="unreachable", clear=True,
                       detail="unreachable on https://10.0.0.12:2379: dial tcp 10.0.0.12:2379: connect: no route to host")
    # Without a probe, etcdctl's logged dial error tells it.
    down = u.member_finding(member("etcd-2", error="context deadline exceeded (%s)" % u.dial_error(REFUSED_LOG)))
    assert down["cause"] == "refused" and down["clear"]
    assert "connect: connection refused" in down["detail"] and "context deadline" not in down["detail"]
    # Reachable but not answering in time: a slow member, worth the full wait.
    slow = u.member_finding(member("etcd-3", error="context deadline exceeded",
                                   reach=dict(cause="reachable", detail="connected")))
    assert slow["cause"] == "unhealthy" and not slow["clear"]


def test_clear_causes_count_consecutive_checks_of_the_same_cause():
    refused = dict(cause="refused", clear=True, detail="connection refused on https://10.0.0.12:2379: ...")
    cut = dict(cause="unreachable", clear=True, detail="unreachable on https://10.0.0.12:2379: ...")
    slow = dict(cause="unhealthy", clear=False, detail="reachable ...")
    causes = u.ClearCauses(3)
    assert causes.update({"etcd-2": refused, "etcd-3": slow}) == []
    assert causes.update({"etcd-2": refused, "etcd-3": slow}) == []
    held = causes.update({"etcd-2": refused, "etcd-3": slow})
    assert [(h["member"], h["cause"], h["count"]) for h in held] == [("etcd-2", "refused", 3)]
    text = u.ClearCauses.describe(held[0])
    assert text.startswith("member etcd-2: connection refused on https://10.0.0.12:2379") and "3 consecutive" in text
    assert "process is down" in text
    # Another cause, a healthy check or an unclear one start the count again.
    assert causes.update({"etcd-2": cut}) == [] and causes.streaks["etcd-2"]["count"] == 1
    causes.update({"etcd-2": cut})
    causes.update({"etcd-2": None})
    assert causes.streaks == {}
    for _attempt in range(10):
        assert causes.update({"etcd-3": slow}) == []


def test_clear_causes_zero_never_gives_up():
    causes = u.ClearCauses(0)
    for _attempt in range(10):
        assert causes.update({"etcd-2": dict(cause="refused", clear=True, detail="x")}) == []


class FakeModule:
    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []
        self.params = dict(endpoints=None, cacert=None, cert=None, key=None, user=None, password=None,
                           etcdctl_path="/usr/local/bin/etcdctl", etcdutl_path=None,
                           dial_timeout="2s", command_timeout="5s")

    def run_command(self, argv, environ_update=None, check_rc=False):
        self.calls.append((argv, environ_update or {}))
        return self.answers.pop(0)


def test_cluster_view_probes_first_and_skips_etcdctl_for_a_dead_member(monkeypatch):
    """A member that refuses connections is not asked through etcdctl (whose
    answer would only time out); the others are, as before."""
    members = json.loads((FIXTURES / "3.5.30" / "member_list_single.json").read_text())
    alive = u.normalize_member(members["members"][0])
    dead = dict(alive, id=1, id_hex="1", name="etcd-2", client_urls=["https://10.0.0.12:2379"],
                peer_urls=["https://10.0.0.12:2380"])
    probes = {alive["client_urls"][0]: dict(cause="reachable", detail="connected"),
              "https://10.0.0.12:2379": dict(cause="refused", detail="dial tcp 10.0.0.12:2379: connect: connection refused")}
    monkeypatch.setattr(u, "probe_endpoint", lambda url, timeout: probes[url])
    mod = FakeModule([(0, (FIXTURES / "3.5.30" / "endpoint_health.json").read_text(), ""),
                      (0, (FIXTURES / "3.5.30" / "endpoint_status.json").read_text(), "")])
    view = u.EtcdCtl(mod).cluster_view([alive, dead], probe=True)
    asked = [env["ETCDCTL_ENDPOINTS"] for _argv, env in mod.calls]
    assert "https://10.0.0.12:2379" not in ",".join(asked)
    by_name = dict((m["name"], m) for m in view["members"])
    assert by_name[alive["name"]]["healthy"]
    assert not by_name["etcd-2"]["healthy"] and by_name["etcd-2"]["reachability"]["cause"] == "refused"
    finding = u.member_finding(by_name["etcd-2"])
    assert finding["cause"] == "refused" and "10.0.0.12:2379" in finding["detail"]
