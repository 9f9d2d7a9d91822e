"""The grid directory as the bot reads it: the stored tree with the intent files' department routes."""

from __future__ import annotations

from bot.nlu.catalog import Catalog
from bot.nlu.chain import FallbackNlu
from tickets.directory import Directory


class RoutedDirectory:
    """The directory with the intent files' `ticket.department` routes applied, rebuilt when the catalog changes."""

    def __init__(self, directory: Directory, nlu: FallbackNlu) -> None:
        self._base = directory
        self._nlu = nlu
        self._cache: tuple[Catalog, Directory] | None = None

    def replace(self, directory: Directory) -> None:
        """A new directory (the admin web's import) is live at once in this process."""
        self._base = directory
        self._cache = None

    def __call__(self) -> Directory:
        catalog = self._nlu.catalog
        if self._cache is None or self._cache[0] is not catalog:
            self._cache = (catalog, self._base.with_routes(catalog.departments()))
        return self._cache[1]
