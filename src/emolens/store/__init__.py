"""Result stores: SQLite by default, PostgreSQL by URL, behind one small interface.

Contract (implemented by ``emolens.store.sql.ResultStore``):

- ``ResultStore(url, must_exist=False)``: a file path (SQLite) or a database URL
  (``postgresql://...`` uses psycopg 3); brings the schema to the newest migration
  (``emolens.store.migrate``). With ``must_exist`` (reading commands), a database without a
  ``results`` table is refused with StoreError and left as it was.
- ``add(results, store_text="full"|"hash"|"none") -> int``: inserts results, skipping any whose
  (item_key, model) is already stored; commits before returning; returns the number inserted.
- ``existing_keys(keys, model) -> set[str]``: which of ``keys`` are already stored for ``model``.
- ``to_frame(source=, group=, model=, label=, since=, until=, folder=) -> pandas.DataFrame``: one
  row per stored result, score columns named ``p_<label>``; with ``folder=True`` the source is
  a folder and the results of the files under it are included.
- ``iter_results(same filters, modality=)``: the same results as chunks of ``EmotionResult``s,
  with ``row``, ``item_id``, ``author``, ``url``, ``text_hash`` and ``stored_at`` in their
  ``details``; ``score_labels(...)``: the labels their scores cover (``emolens export``'s
  columns). ``model=`` may also be a list of models.
- ``sources()``, ``distinct(column)``: the distinct sources, models, labels or modalities held.
"""

from emolens.store.sql import ResultStore

__all__ = ["ResultStore"]
