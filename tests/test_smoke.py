import pytest
from django.db import connection


@pytest.mark.django_db
def test_one_database_has_vector_and_age_and_the_graph():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname IN ('vector', 'age') ORDER BY 1")
        assert [r[0] for r in cursor.fetchall()] == ["age", "vector"]
        cursor.execute("SELECT count(*) FROM ag_catalog.ag_graph WHERE name = 'strata'")
        assert cursor.fetchone()[0] == 1
        # every connection is ready for Cypher without the caller doing anything
        cursor.execute("SELECT * FROM cypher('strata', $$ RETURN 1 + 1 $$) AS (n agtype)")
        assert cursor.fetchone()[0] == "2"
