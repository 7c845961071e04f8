"""Keep ``strata_vector.embedding`` in the table's own pages instead of its TOAST table.

A ``VECTOR(1536)`` is 6,152 bytes: over PostgreSQL's 2 KB TOAST threshold, so until now every
vector was stored out of line (uncompressed: floats do not compress) and every read of one (an
exact distance, a re-rank) fetched it through the TOAST index, about 10 µs each. A filtered
search over 1,000 matching rows spent most of its 12.5 ms of CPU there (README, *Vector queries*).

- ``SET STORAGE MAIN`` on ``embedding``: kept in the row unless the row cannot fit a page;
- ``toast_tuple_target = 8160`` (the maximum): the toaster leaves a row alone until it passes a
  page, so the small ``key`` and ``metadata`` of a 6 KB row stay inline too (with the default
  2 KB target they would be moved out of line instead of the vector); a row whose metadata makes
  it too big for a page still has its largest ``EXTENDED`` values (large metadata) compressed or
  moved out first, and the vector only as a last resort.

Safe on existing data: both are catalog changes (no table rewrite; ``SET STORAGE`` takes a brief
ACCESS EXCLUSIVE lock, ``toast_tuple_target`` a SHARE UPDATE EXCLUSIVE one). Rows written before
keep their TOASTed vectors, which read as before; a row moves inline when it is written again
(an upsert, a re-embedding, a staged bulk load, which copies the collection's rows) or when the
table is rewritten (``VACUUM FULL strata_vector``, which locks it while it runs). Reversible.
"""

from django.db import migrations

FORWARD = """
ALTER TABLE strata_vector ALTER COLUMN embedding SET STORAGE MAIN;
ALTER TABLE strata_vector SET (toast_tuple_target = 8160);
"""

BACKWARD = """
ALTER TABLE strata_vector RESET (toast_tuple_target);
ALTER TABLE strata_vector ALTER COLUMN embedding SET STORAGE EXTENDED;
"""


class Migration(migrations.Migration):
    dependencies = [("core", "0007_vector_collection_index_dimensions")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
