"""langchain-tests' VectorStoreIntegrationTests on Chroma and PGVector, built as their adapters
build them. PGVector needs langchain-postgres, so this runs in the environment of
.ci/langchain-postgres with langchain-tests added; the embedded PostgreSQL is umi-dst's."""

import uuid

import chromadb
import pytest
import sqlalchemy
from chromadb.config import Settings
from langchain_chroma import Chroma
from langchain_postgres import PGVector
from langchain_tests.integration_tests import VectorStoreIntegrationTests
from umi_dst.backends.postgres.server import server


class TestChromaEmbedded(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path):
        client = chromadb.PersistentClient(path=str(tmp_path / "c"), settings=Settings(anonymized_telemetry=False))
        yield Chroma(
            "umi", self.get_embeddings(), client=client, collection_configuration={"hnsw": {"space": "cosine"}}
        )
        client.close()


class TestPGVector(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self):
        url = server().url.replace("postgresql://", "postgresql+psycopg://", 1)
        schema = f"lt_{uuid.uuid4().hex[:8]}"
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
        store = PGVector(self.get_embeddings(), connection=f"{url}&options=-csearch_path%3D{schema}%2Cpublic",
                         collection_name="c")  # fmt: skip
        yield store
        store._engine.dispose()
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
