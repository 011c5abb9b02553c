"""etcd.conf renders only flags each etcd version accepts; role specs match defaults."""
import re

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import to_bool

from conftest import ROOT, etcd_reads

ROLES = ROOT / "roles"


def flags_for(minor):
    """The flags etcd <minor> reads: its captured --help (fixtures/<version>/etcd_help.txt)."""
    return etcd_reads(minor)


def render(version, **overrides):
    defaults = yaml.safe_load((ROLES / "etcd" / "defaults" / "main.yml").read_text())
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=False, undefined=jinja2.StrictUndefined)
    env.filters["comment"] = lambda s: "# " + s
    env.filters["bool"] = to_bool
    tmpl = env.from_string((ROLES / "etcd" / "templates" / "etcd.conf.j2").read_text())
    ctx = dict(defaults, etcd_version=version, __etcd_minor=".".join(version.split(".")[:2]),
               ansible_managed="managed", etcd_name="m1", __etcd_scheme="https",
               __etcd_peer_url="https://10.0.0.1:2380", __etcd_client_url="https://10.0.0.1:2379",
               __etcd_listen_peer_url="https://10.0.0.1:2380", __etcd_listen_client_url="https://10.0.0.1:2379",
               __etcd_bootstrap=dict(initial_cluster="m1=https://10.0.0.1:2380", state="new", token="t"))
    ctx.update(overrides)
    return tmpl.render(**ctx)


def env_flags(text):
    return [m.lower().replace("_", "-") for m in re.findall(r"^ETCD_([A-Z0-9_]+)=", text, re.M)]


@pytest.mark.parametrize("version", ["3.4.23", "3.5.30", "3.6.16", "3.7.3"])
@pytest.mark.parametrize("tls", [True, False])
def test_rendered_flags_exist_in_that_version(version, tls):
    text = render(version, etcd_tls=tls)
    known = flags_for(".".join(version.split(".")[:2]))
    flags = env_flags(text)
    assert flags, text
    unknown = [f for f in flags if f not in known]
    assert not unknown, f"etcd {version} has no flags {unknown}"
    assert ("cert-file" in flags) is tls


BOOT = {
    "dns": dict(discovery_srv="etcd.lab", discovery_srv_name="c1", state="new", token="t"),
    "discovery_v2": dict(discovery="http://d:2379/v2/keys/_etcd/registry/t", state="new", token="t"),
    "discovery_v3": dict(discovery_token="t", discovery_endpoints="http://d:2379", state="new", token="t"),
    "join": dict(initial_cluster="a=https://1:2380,m1=https://10.0.0.1:2380", state="existing", token="t"),
}


@pytest.mark.parametrize("version,boot", [
    ("3.5.30", "dns"), ("3.6.16", "dns"), ("3.7.3", "dns"), ("3.5.30", "discovery_v2"),
    ("3.6.16", "discovery_v2"), ("3.6.16", "discovery_v3"), ("3.7.3", "discovery_v3"), ("3.5.30", "join"),
    ("3.6.16", "join"), ("3.7.3", "join"),
])
def test_exactly_one_bootstrap_source(version, boot):
    text = render(version, __etcd_bootstrap=BOOT[boot])
    flags = env_flags(text)
    unknown = [f for f in flags if f not in flags_for(".".join(version.split(".")[:2]))]
    assert not unknown, f"etcd {version} has no flags {unknown}"
    sources = {f for f in flags if f in ("initial-cluster", "discovery", "discovery-srv", "discovery-token")}
    assert len(sources) == 1, sources
    if boot == "discovery_v2":
        assert 'ETCD_DISCOVERY_FALLBACK="exit"' in text


@pytest.mark.parametrize("tls,scheme", [("true", True), ("yes", True), ("false", False), ("0", False)])
def test_boolean_from_the_command_line(tls, scheme):
    """-e etcd_tls=false arrives as the string 'false', which is truthy."""
    assert ("ETCD_CERT_FILE" in render("3.6.16", etcd_tls=tls)) is scheme


def test_version_specific_lines():
    assert "ETCD_LOGGER" in render("3.4.23")
    assert "ETCD_LOGGER" not in render("3.5.30")
    assert "ENABLE_V2" not in render("3.6.16")


def test_flag_lists_really_differ():
    """The checks above would hide nothing if the lists were equal: they are not."""
    assert "enable-v2" in flags_for("3.5") and "enable-v2" not in flags_for("3.6")
    assert "experimental-initial-corrupt-check" in flags_for("3.6")
    assert not any(f.startswith("experimental-") for f in flags_for("3.7"))
    assert "discovery" in flags_for("3.6") and "discovery" not in flags_for("3.7")
    assert "discovery-token" in flags_for("3.6") and "discovery-token" not in flags_for("3.5")
    assert "logger" in flags_for("3.4")


def test_extra_flags_are_rendered():
    text = render("3.5.30", etcd_extra_flags={"experimental-initial-corrupt-check": True,
                                              "max-request-bytes": 1048576})
    assert 'ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK="true"' in text
    assert 'ETCD_MAX_REQUEST_BYTES="1048576"' in text


@pytest.mark.parametrize("role", sorted(p.name for p in ROLES.iterdir()))
def test_argument_specs_match_defaults(role):
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = specs["main"]["options"]
    assert set(defaults) == set(options), set(defaults) ^ set(options)
    for name, value in defaults.items():
        spec = options[name]
        assert spec.get("description"), f"{role}: {name} has no description"
        if not (isinstance(value, str) and "{{" in value):
            assert spec.get("default") == value, f"{role}: {name} default {spec.get('default')!r} != {value!r}"


def test_host_selection_keeps_order():
    """Ansible's intersect/difference filters return set order, which changes
    with every process's hash seed: a host list built with them made the
    serial join queue and the seed of a join random (CI failed by chance).
    Host lists are filtered with select/reject('in', ...) instead."""
    offenders = []
    for path in list(ROOT.glob("roles/**/*.yml")) + list(ROOT.glob("playbooks/*.yml")) \
            + list(ROOT.glob("roles/**/*.j2")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\|\s*(intersect|difference|symmetric_difference)\b", line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert not offenders, offenders


# Where a role or playbook reads a variable as a Jinja expression: the whole
# value of these keys, and {{ }} / {% %} blocks in any other string.
CONDITIONALS = {"when", "that", "until", "changed_when", "failed_when"}
JINJA = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.S)
LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads Ansible's tags (!unsafe, !vault) as plain values."""


_Loader.add_multi_constructor("!", lambda loader, tag, node: loader.construct_scalar(node)
                              if isinstance(node, yaml.ScalarNode) else None)


def bool_settings():
    """{name: role} of every boolean setting (type: bool in a role's argument specs)."""
    found = {}
    for role in sorted(p.name for p in ROLES.iterdir()):
        specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
        for name, spec in specs["main"]["options"].items():
            if spec.get("type") == "bool":
                found[name] = role
    return found


def raw_bool_reads(expr, names):
    """The names of `names` that the Jinja expression reads without `| bool`
    (`| default(...) | bool` counts), outside string literals. The check of
    the values themselves (bool_problems) reads them raw on purpose."""
    if "bool_problems" in expr:
        return []
    code = LITERAL.sub("''", expr)
    pattern = r"\b(%s)\b(?!\s*(\|\s*default\([^()]*\)\s*)?\|\s*bool\b)" % "|".join(map(re.escape, names))
    return [m.group(1) for m in re.finditer(pattern, code)]


def expressions(node, key=None):
    """Every Jinja expression of a loaded YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from expressions(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from expressions(v, key)
    elif isinstance(node, str):
        if key in CONDITIONALS:
            yield node
        else:
            yield from ("".join(m.groups("")) for m in JINJA.finditer(node))


def test_scanner_finds_raw_booleans():
    """The scan below would hide nothing if it found nothing: it finds these."""
    names = ["etcd_force", "etcd_tls"]
    doc = yaml.load(
        "- {when: etcd_force, ok: \"{{ x if etcd_tls_extra_sans else y }}\"}\n"
        "- assert: {that: [a or etcd_force | bool, b and etcd_tls]}\n"
        "- m: {force: \"{{ etcd_force }}\", msg: \"set etcd_force=true {{ 'or etcd_tls=false' }}\"}\n"
        "- {changed_when: etcd_force | default(false) | bool, failed_when: not etcd_tls|bool}\n", Loader=_Loader)
    assert [raw_bool_reads(e, names) for e in expressions(doc) if raw_bool_reads(e, names)] == \
        [["etcd_force"], ["etcd_tls"], ["etcd_force"]]
    assert raw_bool_reads("{% if etcd_tls %}x{% endif %}", names) == ["etcd_tls"]
    assert raw_bool_reads("'https' if etcd_tls | bool else 'http'", names) == []


def test_booleans_are_read_through_the_bool_filter():
    """-e etcd_force=true arrives as the string 'true': a conditional that
    reads it raw fails ("must have a boolean result"), and 'false' is a
    truthy string in a template or a module argument. Every boolean setting
    is read as `name | bool`."""
    names = sorted(bool_settings())
    assert {"etcd_force", "etcd_tls", "chrony_control_clock"} <= set(names)
    offenders = []
    for path in sorted(ROOT.glob("roles/**/*.yml")) + sorted(ROOT.glob("playbooks/*.yml")):
        for expr in expressions(yaml.load(path.read_text(), Loader=_Loader)):
            offenders += [f"{path.relative_to(ROOT)}: {n} in {expr.strip()[:120]!r}" for n in raw_bool_reads(expr, names)]
    for path in sorted(ROOT.glob("roles/**/*.j2")):
        for m in JINJA.finditer(path.read_text()):
            expr = "".join(m.groups(""))
            offenders += [f"{path.relative_to(ROOT)}: {n} in {expr.strip()!r}" for n in raw_bool_reads(expr, names)]
    assert not offenders, "\n".join(offenders)


def checked_bools(role):
    """The settings a role checks with raftops.etcd.bool_problems."""
    names = set((yaml.safe_load((ROLES / role / "vars" / "main.yml").read_text()) or {})
                .get(f"__{role}_bool_settings", [])) if (ROLES / role / "vars" / "main.yml").exists() else set()
    for path in (ROLES / role / "tasks").glob("*.yml"):
        for line in path.read_text().splitlines():
            if "raftops.etcd.bool_problems" in line:
                names |= set(re.findall(r"'(\w+)':", line))
    return names


@pytest.mark.parametrize("role", sorted(set(bool_settings().values())))
def test_every_boolean_setting_is_checked(role):
    """A value the bool filter cannot read (etcd_force=maybe) is refused by name."""
    declared = {n for n, r in bool_settings().items() if r == role}
    assert checked_bools(role) == declared


def test_boolean_check_runs_first():
    """Before anything changes: first in preflight (site) and check (day-2
    entry) of the etcd role, first task of the other roles."""
    for name in ("preflight", "check"):
        first = yaml.safe_load((ROLES / "etcd" / "tasks" / f"{name}.yml").read_text())[0]
        assert first.get("ansible.builtin.import_tasks") == "booleans.yml", name
    for role in sorted(set(bool_settings().values()) - {"etcd"}):
        first = yaml.safe_load((ROLES / role / "tasks" / "main.yml").read_text())[0]
        assert "raftops.etcd.bool_problems" in str(first.get("vars")), role


def test_etcd_entry_points_check_the_booleans_they_read():
    """Role argument validation (type: bool) refuses etcd_force=maybe at every
    entry point that reads etcd_force (tests/unit/test_entry_points.py keeps
    each entry point's options to what it reads)."""
    import entry_points as ep
    specs = yaml.safe_load((ROLES / "etcd" / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    bools = {n for n, r in bool_settings().items() if r == "etcd"}
    for entry, spec in specs.items():
        if entry == "main":
            continue
        options = spec.get("options") or {}
        read = ep.reads(entry)[0] & bools
        assert {n for n in read if options.get(n, {}).get("type") == "bool"} == read, entry
    assert bools <= ep.reads("check")[0], "check (every day-2 playbook's first step) checks every boolean"


@pytest.mark.parametrize("hostvars,want", [
    ({"etcd_address": "10.1.1.1", "etcd_interface": "back-net"}, "10.1.1.1"),
    ({"etcd_interface": "back-net"}, "10.9.0.4"),
    ({"etcd_interface": "eth9"}, ""),
    ({}, "10.0.0.4"),
])
def test_member_address_from_etcd_interface(hostvars, want):
    """etcd_address wins; else the IPv4 address of etcd_interface (facts name
    back-net back_net); else the default route's; a missing interface gives
    nothing, which identity.yml refuses by name."""
    rolevars = yaml.safe_load((ROLES / "etcd" / "vars" / "main.yml").read_text())
    defaults = yaml.safe_load((ROLES / "etcd" / "defaults" / "main.yml").read_text())
    assert defaults["etcd_interface"] == ""
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined)
    ctx = dict({"etcd_address": "", "etcd_interface": ""}, **hostvars)
    ctx["ansible_facts"] = {"default_ipv4": {"address": "10.0.0.4"}, "back_net": {"ipv4": {"address": "10.9.0.4"}}}
    ctx["__etcd_iface_key"] = env.from_string(rolevars["__etcd_iface_key"]).render(**ctx)
    assert env.from_string(rolevars["__etcd_addr"]).render(**ctx).strip() == want
