"""Reading objects the user named: a GET per name, never a namespace listed to find a few of them.

A namespace may hold thousands of objects of the kind asked for (an Argo CD that serves many teams holds
thousands of Applications in `argocd`): listing it to find one costs megabytes and seconds, a GET costs one
object. Several names in one namespace share one list only from LIST_FROM names on.

Why 16: a GET is one round trip for one object (on a real kube-apiserver on this 2-core machine ~2-4 ms
for an Application, docs/semantics.md "Reading named objects"); a list costs every object of the
namespace (~0.5 ms each for Applications: 2,000 of them, 9.7 MB, take ~1 s). Sixteen GETs (~50 ms) cost
what a list of ~100 objects does, and a namespace whose objects users name one by one rarely holds
fewer; past sixteen names a check is describing most of a namespace anyway, and the one list is the
cheaper and the steadier (one request to retry, not sixteen). The verdicts are the same either way: a
name the read does not return is "not found" (a FAIL of that object), a refused read is PermissionDenied
(an ERROR), an unknown kind KindNotServed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gate.cluster.kube import Permission
from gate.cluster.resources import Resource

LIST_FROM = 16


def by_list(names: Iterable[str]) -> bool:
    """Whether these names (of one kind in one namespace) are read with one list rather than GETs."""
    return len(set(names)) >= LIST_FROM


def permissions(res: Resource, names: Iterable[str], namespace: str | None) -> list[Permission]:
    """What reading `names` needs: `get` on each name (RBAC resourceNames can grant exactly that), or
    `list` in the namespace when they are read with one list."""
    wanted = list(dict.fromkeys(names))
    ns = namespace if res.namespaced else None
    if by_list(wanted):
        return [Permission("list", res.plural, res.group, ns)]
    return [Permission("get", res.plural, res.group, ns, name) for name in wanted]


def read(names: Iterable[str], get: Callable[[str], dict | None],
         list_all: Callable[[], list[dict]]) -> dict[str, dict | None]:
    """name -> the object, or None when it does not exist. `get(name)` reads one object (None: NotFound),
    `list_all()` the namespace; which one by by_list(). Errors (403, unknown kind) are raised as they come."""
    wanted = list(dict.fromkeys(names))
    if by_list(wanted):
        found = {_name(o): o for o in list_all()}
        return {name: found.get(name) for name in wanted}
    return {name: get(name) for name in wanted}


def read_kube(kube: Any, res: Resource, names: Iterable[str], namespace: str | None = None) -> dict[str, dict | None]:
    """read() through a KubeClient (precheck, promote, diagnose, status: no per-round view)."""
    return read(names, lambda name: kube.get(res, name, namespace), lambda: kube.list(res, namespace))


def _name(obj: dict) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")
