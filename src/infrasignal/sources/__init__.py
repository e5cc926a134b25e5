"""The registry of sources: one module per ATS, found by the name used in config (`ats = "greenhouse"`).

Modules are imported on first use so that `infrasignal --help` and queries stay fast.
"""

from __future__ import annotations

import importlib

from infrasignal.sources.base import Source

# name in config -> module defining `SOURCE`
_MODULES: dict[str, str] = {
    "greenhouse": "infrasignal.sources.greenhouse",
    "lever": "infrasignal.sources.lever",
    "ashby": "infrasignal.sources.ashby",
    "workday": "infrasignal.sources.workday",
    "smartrecruiters": "infrasignal.sources.smartrecruiters",
    "workable": "infrasignal.sources.workable",
    "amazon": "infrasignal.sources.amazon",
    "jsonld": "infrasignal.sources.jsonld",
    "html": "infrasignal.sources.html",
}

_LOADED: dict[str, Source] = {}


def source_names() -> list[str]:
    return list(_MODULES)


def get_source(name: str) -> Source:
    """The source registered under `name`; KeyError for an unknown one (config validation catches that)."""
    if name not in _LOADED:
        module = importlib.import_module(_MODULES[name])
        _LOADED[name] = module.SOURCE
    return _LOADED[name]


__all__ = ["Source", "get_source", "source_names"]
