"""etcd_maintenance decisions, the catch-up check of etcd_cluster_info and
the two-member allowance of etcd_member, against a fake etcdctl."""
import pytest

from ansible_collections.raftops.etcd.plugins.module_utils._etcdctl import EtcdError, Refused
from ansible_collections.raftops.etcd.plugins.modules import etcd_cluster_info as eci
from ansible_collections.raftops.etcd.plugins.modules import etcd_maintenance as emt
from ansible_collections.raftops.etcd.plugins.modules import etcd_member as em


def member(i, learner=False, healthy=True, leader=False):
    return dict(id=i, id_hex="%x" % i, name=f"etcd-{i}", peer_urls=[f"https://10.0.0.{i}:2380"],
                client_urls=[f"https://10.0.0.{i}:2379"], is_learner=learner, started=True,
                healthy=healthy, is_leader=leader, status={"raft_index": 100 + i})


def cluster(*members):
    return dict(members=list(members), leader=next((m["id_hex"] for m in members if m["is_leader"]), None))


class FakeModule:
    def __init__(self, check=False, **params):
        self.check_mode = check
        self.params = dict(state=None, member=None, min_free_bytes=100, min_free_ratio=0.2,
                           keep_revisions=10, force=False, wait_timeout=5)
        self.params.update(params)


class FakeCtl:
    def __init__(self, view, alarms=(), compacted_up_to=0):
        self.view = view
        self.calls = []
        self._alarms = list(alarms)
        self.compacted_up_to = compacted_up_to

    def cluster_view(self):
        return self.view

    def defrag(self, endpoint):
        self.calls.append(("defrag", endpoint))

    def endpoint_status(self, endpoints):
        return [dict(db_size=1, leader="2")]

    def is_compacted(self, revision):
        return revision < self.compacted_up_to

    def compact(self, revision):
        self.calls.append(("compact", revision))

    def alarms(self):
        return self._alarms

    def alarm_disarm(self):
        self.calls.append(("disarm",))

    def move_leader(self, endpoint, target):
        self.calls.append(("move-leader", endpoint, target))

    def retry(self, func, timeout=30):
        return func()


def sized(m, size, in_use, revision=500):
    m["status"].update(db_size=size, db_size_in_use=in_use, revision=revision)
    return m


@pytest.mark.parametrize("size,in_use,expected", [
    (1000, 100, True),     # 900 free, 90 %
    (1000, 950, False),    # 50 free: below min_free_bytes
    (100000, 79000, True),
    (100000, 90000, False),  # 10 % free: below the ratio
    (0, None, False),
])
def test_needs_defrag(size, in_use, expected):
    assert emt.needs_defrag(dict(db_size=size, db_size_in_use=in_use), 100, 0.2) is expected


def test_defrag_only_when_space_is_free_and_not_in_check_mode():
    view = cluster(sized(member(1), 1000, 100), sized(member(2), 1000, 990))
    ctl = FakeCtl(view)
    assert emt.run(FakeModule(state="defragmented", member="etcd-2"), ctl)["changed"] is False
    assert emt.run(FakeModule(check=True, state="defragmented", member="etcd-1"), ctl)["changed"] is True
    assert ctl.calls == []
    assert emt.run(FakeModule(state="defragmented", member="etcd-1"), ctl)["action"] == "defragment"
    assert ctl.calls == [("defrag", "https://10.0.0.1:2379")]
    assert emt.run(FakeModule(state="defragmented", member="etcd-2", force=True), ctl)["changed"] is True


def test_defrag_refuses_unknown_or_unhealthy_member():
    view = cluster(sized(member(1), 1000, 100), sized(member(2, healthy=False), 1000, 100))
    with pytest.raises(Refused, match="no member named etcd-9"):
        emt.run(FakeModule(state="defragmented", member="etcd-9"), FakeCtl(view))
    with pytest.raises(Refused, match="not healthy"):
        emt.run(FakeModule(state="defragmented", member="etcd-2"), FakeCtl(view))


def test_compact_keeps_revisions_and_is_idempotent():
    view = cluster(sized(member(1), 1, 1, revision=500), sized(member(2), 1, 1, revision=498))
    ctl = FakeCtl(view)
    result = emt.run(FakeModule(state="compacted", keep_revisions=10), ctl)
    assert result["changed"] and result["revision"] == 490 and ctl.calls == [("compact", 490)]
    done = FakeCtl(view, compacted_up_to=490)
    assert emt.run(FakeModule(state="compacted", keep_revisions=10), done)["changed"] is False
    assert done.calls == []


def test_compact_treats_a_concurrent_compaction_as_done():
    class Raced(FakeCtl):
        def compact(self, revision):
            raise EtcdError("compact", 1, "", "mvcc: required revision has been compacted")
    view = cluster(sized(member(1), 1, 1, revision=500))
    assert emt.run(FakeModule(state="compacted", keep_revisions=10), Raced(view))["changed"] is False


def test_disarm_only_with_alarms():
    view = cluster(member(1))
    quiet = FakeCtl(view)
    assert emt.run(FakeModule(state="disarmed"), quiet)["changed"] is False
    loud = FakeCtl(view, alarms=[dict(member_id="1", alarm="NOSPACE")])
    result = emt.run(FakeModule(state="disarmed"), loud)
    assert result["changed"] and loud.calls == [("disarm",)] and "NOSPACE" in result["diff"]["before"]
    checked = FakeCtl(view, alarms=[dict(member_id="1", alarm="NOSPACE")])
    assert emt.run(FakeModule(check=True, state="disarmed"), checked)["changed"] and checked.calls == []


def test_leader_moved_only_from_the_leader():
    view = cluster(member(1, leader=True), member(2), member(3))
    ctl = FakeCtl(view)
    assert emt.run(FakeModule(state="leader_moved", member="etcd-2"), ctl)["changed"] is False
    result = emt.run(FakeModule(state="leader_moved", member="etcd-1"), ctl)
    assert result["changed"] and result["leader"] == "etcd-3"  # the most caught-up voter
    assert ctl.calls[0][0] == "move-leader"


def test_leader_move_refused_without_a_healthy_voter():
    view = cluster(member(1, leader=True), member(2, healthy=False), member(3, learner=True))
    with pytest.raises(Refused, match="no healthy voter"):
        emt.run(FakeModule(state="leader_moved", member="etcd-1"), FakeCtl(view))


def test_lagging_member_is_a_problem_only_beyond_the_bound():
    view = cluster(member(1, leader=True), member(2), member(3))
    for i, applied in ((0, 5000), (1, 4990), (2, 3000)):
        view["members"][i]["status"]["raft_applied_index"] = applied
    problems = eci.assess(view, max_raft_lag=100)
    assert problems == ["member etcd-3 lags: applied index 3000, 2000 behind the most caught-up member"]
    assert eci.assess(view, max_raft_lag=5000) == [] and eci.assess(view) == []


def test_two_member_removal_allowed_only_when_asked():
    view = cluster(member(1), member(2), member(3, healthy=False))
    with pytest.raises(Refused, match="2-member"):
        em.plan_absent(view, view["members"][2], False)
    assert em.plan_absent(view, view["members"][2], False, allow_two_members=True) is None


# ---------------------------------------------------------------- NOSPACE
def test_defrag_goes_ahead_on_a_member_whose_only_fault_is_an_alarm():
    # in use 990 of 1000: the thresholds alone would leave it as it is.
    alarmed = sized(member(2, healthy=False), 1000, 990)
    alarmed.update(alarmed=True, health_error="Active Alarm(s): NOSPACE")
    ctl = FakeCtl(cluster(sized(member(1), 1000, 100), alarmed))
    assert emt.run(FakeModule(state="defragmented", member="etcd-2"), ctl)["action"] == "defragment"
    assert ctl.calls == [("defrag", "https://10.0.0.2:2379")]


class AlarmedCtl(emt.EtcdCtl):
    """The real view code over canned etcdctl answers: etcd-2 has NOSPACE
    raised, etcd-3 is down."""

    def __init__(self):
        self.status_asked = None

    def member_list(self):
        return [dict(member(i), status=None) for i in (1, 2, 3)]

    def run(self, args, endpoints=None, **kw):
        assert args == ["endpoint", "health"]
        ep = endpoints[0]
        if ep.endswith(".3:2379"):
            raise EtcdError("endpoint health", 1, "", "context deadline exceeded")
        error = "Active Alarm(s): NOSPACE" if ep.endswith(".2:2379") else ""
        return [dict(endpoint=ep, health=not error, error=error)]

    def endpoint_status(self, endpoints):
        self.status_asked = endpoints
        return [dict(member_id="%x" % int(e.split(".")[-1].split(":")[0]), leader="1", db_size=9) for e in endpoints]


def test_cluster_view_reads_the_status_of_alarmed_members_but_keeps_them_unhealthy():
    ctl = AlarmedCtl()
    view = ctl.cluster_view()
    by_name = {m["name"]: m for m in view["members"]}
    assert ctl.status_asked == ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]
    assert by_name["etcd-2"]["healthy"] is False and by_name["etcd-2"]["alarmed"] is True
    assert by_name["etcd-2"]["status"]["db_size"] == 9
    assert by_name["etcd-3"]["alarmed"] is False and by_name["etcd-3"]["status"] is None
    assert view["leader"] == "1"


def test_alarm_types_are_named():
    class Ctl(emt.EtcdCtl):
        def __init__(self):
            pass

        def run(self, args, **kw):
            return {"alarms": [{"memberID": 255, "alarm": 1}, {"memberID": 1, "alarm": 2}]}

    assert Ctl().alarms() == [dict(member_id="ff", alarm="NOSPACE"), dict(member_id="1", alarm="CORRUPT")]
