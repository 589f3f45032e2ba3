"""Strategies by the name users type. ``@register`` adds a class; :func:`get` and :func:`names` look them up."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Strategy

_REGISTRY: dict[str, type["Strategy"]] = {}


def register(cls: type["Strategy"]) -> type["Strategy"]:
    if cls.name in _REGISTRY:
        raise ValueError(f"strategy {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    from . import atomic, naive, optimistic, redlock, redlock_fenced, setnx, setnx_fenced  # noqa: F401  (importing registers them)


def names() -> tuple[str, ...]:
    _load_all()
    return tuple(_REGISTRY)


def get(name: str) -> type["Strategy"]:
    _load_all()
    return _REGISTRY[name]


def all_strategies() -> list[type["Strategy"]]:
    _load_all()
    return list(_REGISTRY.values())
