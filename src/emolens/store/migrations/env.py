"""Alembic environment: runs the migrations on the connection ``emolens.store.migrate`` gives.

Only the programmatic route is supported (``emolens db upgrade``, or opening a store), so the
connection, and the transaction around it, always come from the caller.
"""

from alembic import context

from emolens.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "emolens migrations run through `emolens db upgrade` (or by opening a ResultStore), "
        "not through the alembic command"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
)
with context.begin_transaction():
    context.run_migrations()
