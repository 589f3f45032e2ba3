"""Seat-booking strategies, one module each, registered by name (see :mod:`.registry`)."""
from .base import Context, Strategy
from .registry import all_strategies, get, names

__all__ = ["Context", "Strategy", "all_strategies", "get", "names"]
