"""Schemathesis hooks (``SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks``): real ids.

Generated ids almost never name an object, so every request would stop at 404 before the
code behind it runs. This hook replaces, some of the time, in positive cases, the path parameters,
the query parameters and the body fields named in the JSON file at ``$HARBORHOOK_SCHEMA_KNOWN_IDS``
with real ids: ``{"any": {name: [ids]}, "delete": {name: [ids]}}``. DELETE operations draw
from ``delete`` (spare objects), so the others keep finding the main ones. Hypothesis picks
between the generated value and each real one, so generated values are still sent too.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import strategies as st

KNOWN_IDS_ENV = "HARBORHOOK_SCHEMA_KNOWN_IDS"


@cache
def _known() -> dict[str, dict[str, list[str]]]:
    known: dict[str, dict[str, list[str]]] = json.loads(Path(os.environ[KNOWN_IDS_ENV]).read_text())
    return known


def _ids_for(ctx: schemathesis.HookContext) -> dict[str, list[str]]:
    deleting = ctx.operation is not None and ctx.operation.method.upper() == "DELETE"
    return _known()["delete" if deleting else "any"]


def sometimes_real(value: Any, known: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """``value`` with each field named in ``known`` kept or replaced by one of its ids."""
    if not isinstance(value, dict):
        return st.just(value)
    choices = {k: st.sampled_from([v, *known[k]]) for k, v in value.items() if k in known}
    if not choices:
        return st.just(value)
    return st.fixed_dictionaries(choices).map(lambda drawn: {**value, **drawn})


@schemathesis.hook
def flatmap_case(ctx: schemathesis.HookContext, case: schemathesis.Case) -> st.SearchStrategy[Any]:
    """Positive cases only: a negative case's invalid value must stay invalid, or the
    server rightly accepting the replaced value would read as accepting invalid data."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative:
        return st.just(case)
    known = _ids_for(ctx)

    def with_ids(drawn: tuple[Any, Any, Any]) -> schemathesis.Case:
        case.path_parameters, case.query, case.body = drawn
        return case

    return st.tuples(
        sometimes_real(case.path_parameters, known),
        sometimes_real(case.query, known),
        sometimes_real(case.body, known),
    ).map(with_ids)
