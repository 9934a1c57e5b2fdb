"""Name -> component factories. Built-ins and third-party plugins take the same route.

Third parties register through the entry-point group ``emolens.<kind>s`` (for example
``emolens.recognizers``), each entry point naming a factory callable.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from emolens.errors import UnknownComponentError


class Registry:
    """Factories for one kind of component, looked up by name."""

    def __init__(self, kind: str, builtins: str | None = None) -> None:
        self.kind = kind
        self._builtins = builtins  # module whose import registers the built-in components
        self._factories: dict[str, Callable[..., Any]] = {}
        self._descriptions: dict[str, str] = {}
        self._plugins_loaded = False

    def register(self, name: str, factory: Callable[..., Any], description: str = "") -> None:
        """Make ``factory`` available as ``name``; a later registration replaces an earlier one."""
        self._factories[name] = factory
        # A docstring's first line, without its reST literals (``accurate``) for the screen.
        self._descriptions[name] = description or (
            (factory.__doc__ or "").strip().split("\n")[0].replace("``", ""))

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        if self._builtins:
            import_module(self._builtins)
        for entry in entry_points(group=f"emolens.{self.kind}s"):
            if entry.name not in self._factories:
                self.register(entry.name, entry.load())

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._load_plugins()
        return sorted(self._factories)

    def describe(self) -> dict[str, str]:
        """Name -> one-line description."""
        self._load_plugins()
        return {name: self._descriptions[name] for name in sorted(self._factories)}

    def factory(self, name: str) -> Callable[..., Any]:
        """The factory registered as ``name``."""
        self._load_plugins()
        if name not in self._factories:
            raise UnknownComponentError(
                f"Unknown {self.kind} {name!r}; available: {sorted(self._factories)}"
            )
        return self._factories[name]

    def create(self, name: str, **kwargs: Any) -> Any:
        """Build the component registered as ``name``."""
        return self.factory(name)(**kwargs)


recognizers = Registry("recognizer", builtins="emolens.models")
