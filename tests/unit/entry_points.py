"""What each tasks_from entry point of roles/etcd reads, found in its files.

An entry point is roles/etcd/tasks/<name>.yml with the task files it includes
or imports (transitively), the templates it renders (template tasks and
template lookups) and the private variables of vars/main.yml they reference
(transitively). Its public inputs are the role options (defaults/main.yml)
named there; its parameters are the other etcd_* names it reads that no task
of its own sets and that are not facts of the role (etcd_cluster).
"""
from __future__ import annotations

import re

import yaml

from conftest import ROOT

ROLE = ROOT / "roles" / "etcd"
TASKS, TEMPLATES = ROLE / "tasks", ROLE / "templates"
# Module, filter and test names (raftops.etcd.etcd_backup_drill) are not variables.
FQCN = re.compile(r"\b[A-Za-z_]\w*\.[A-Za-z_]\w*\.[A-Za-z_]\w*")
PUBLIC_NAME = re.compile(r"(?<!\w)etcd_\w+")
PRIVATE_NAME = re.compile(r"(?<!\w)__etcd_\w+")
INCLUDE = re.compile(r"^\s*(?:-\s+)?ansible\.builtin\.(?:include|import)_tasks:\s*(?:file:\s*)?(\S+\.yml)\s*$", re.M)
INCLUDE_FILE = re.compile(r"ansible\.builtin\.(?:include|import)_tasks:\s*\n\s+file:\s*(\S+\.yml)")
TEMPLATE_LOOKUP = re.compile(r"lookup\(\s*['\"](?:ansible\.builtin\.)?template['\"]\s*,\s*['\"]([^'\"]+)['\"]")
TEMPLATE_SRC = re.compile(r"(?<![\w.])(\w[\w.-]*\.j2)\b")
SETS = re.compile(r"^\s*(?:register|loop_var):\s*(etcd_\w+)\s*$", re.M)
# A key (set_fact, task vars, module options) defines a name, it does not read it.
KEY = re.compile(r"^(\s*(?:-\s+)?)(etcd_\w+):", re.M)
# Not variables an entry point is given: the fact check.yml and health.yml
# register, and a group's name.
NOT_INPUTS = {"etcd_cluster", "etcd_retired"}


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, tag, node: loader.construct_scalar(node)
                              if isinstance(node, yaml.ScalarNode) else None)


def _load(path):
    return yaml.load(path.read_text(), Loader=_Loader)


COMMENT = re.compile(r"^[ \t]*#[^\n]*$|\{#.*?#\}", re.M | re.S)
# 'etcd_order' in an expression is a group's name, not a variable.
LITERAL = re.compile(r"'[^'\n]*'")


def _names(text, pattern):
    return set(pattern.findall(LITERAL.sub("''", FQCN.sub(" ", COMMENT.sub("", text)))))


def public_options() -> set[str]:
    return set(_load(ROLE / "defaults" / "main.yml") or {})


def _private() -> dict[str, str]:
    return {k: yaml.safe_dump(v, default_style='"') for k, v in (_load(ROLE / "vars" / "main.yml") or {}).items()}


def files_of(entry: str) -> tuple[list[str], list[str]]:
    """The task files and templates of an entry point."""
    files, templates, todo = [], [], [entry + ".yml"]
    while todo:
        name = todo.pop(0)
        if name in files:
            continue
        files.append(name)
        text = (TASKS / name).read_text()
        todo += INCLUDE.findall(text) + INCLUDE_FILE.findall(text)
        for tpl in TEMPLATE_LOOKUP.findall(text) + TEMPLATE_SRC.findall(text):
            if (TEMPLATES / tpl).is_file() and tpl not in templates:
                templates.append(tpl)
    return files, templates


def reads(entry: str) -> tuple[set[str], set[str]]:
    """(role options, parameters) the entry point reads."""
    files, templates = files_of(entry)
    texts = [(TASKS / f).read_text() for f in files] + [(TEMPLATES / t).read_text() for t in templates]
    private = _private()
    seen, todo = set(), set().union(*(_names(t, PRIVATE_NAME) for t in texts))
    while todo:
        name = todo.pop()
        if name in seen or name not in private:
            continue
        seen.add(name)
        texts.append(private[name])
        todo |= _names(private[name], PRIVATE_NAME)
    named = set().union(*(_names(KEY.sub(r"\1", t), PUBLIC_NAME) for t in texts))
    own = set()
    for f in files:
        text = (TASKS / f).read_text()
        own |= set(SETS.findall(text)) | {m.group(2) for m in KEY.finditer(text)}
    options = public_options()
    return named & options, named - options - own - NOT_INPUTS


def specs() -> dict:
    return _load(ROLE / "meta" / "argument_specs.yml")["argument_specs"]
