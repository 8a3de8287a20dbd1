"""langchain-postgres's PGVector: a second store in the process keeps the first one's dimension.

Found by umi-dst (langchain-postgres adapter: two stores of different dimensions in one process); needs
only langchain-postgres and a PostgreSQL server with pgvector, in which the script makes two
databases' worth of tables in two fresh schemas and drops them:
python langchain_postgres_second_dimension_refused.py postgresql+psycopg://...
``_get_embedding_collection_store`` builds its ORM classes once per process, with the first
store's ``embedding_length``, and caches them in a module global: a later store with another
``embedding_length`` creates its table with the first dimension, and every add fails.
Expected: the 2-dimensional store takes a 2-dimensional vector. Got: ``DataError: expected 3
dimensions, not 2``.
Versions seen failing: langchain-postgres 0.0.19, pgvector (python) 0.3.6, SQLAlchemy 2.1.9,
PostgreSQL 18 with pgvector 0.8.
"""

import sys
import uuid

import sqlalchemy
from langchain_core.embeddings import Embeddings
from langchain_postgres import PGVector


class Ones(Embeddings):
    def __init__(self, dim):
        self.dim = dim

    def embed_documents(self, texts):
        return [[1.0] * self.dim for _ in texts]

    def embed_query(self, text):
        return [1.0] * self.dim


url = sys.argv[1]
engine = sqlalchemy.create_engine(url)
schemas = [f"dim_{uuid.uuid4().hex[:8]}" for _ in range(2)]
try:
    with engine.begin() as connection:
        for schema in schemas:
            connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in url else "?"
    stores = [
        PGVector(Ones(dim), connection=f"{url}{separator}options=-csearch_path%3D{schema}%2Cpublic",
                 embedding_length=dim, collection_name="c")
        for dim, schema in zip((3, 2), schemas)
    ]  # fmt: skip
    stores[0].add_texts(["three"], ids=["a"])
    try:
        stores[1].add_texts(["two"], ids=["a"])
    except sqlalchemy.exc.DataError as exc:
        sys.exit(f"FAIL: a 2-dimensional store refused a 2-dimensional vector: {exc.orig}")
    print("PASS: each store kept its own dimension")
finally:
    for store in locals().get("stores", []):
        store._engine.dispose()
    with engine.begin() as connection:
        for schema in schemas:
            connection.execute(sqlalchemy.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
