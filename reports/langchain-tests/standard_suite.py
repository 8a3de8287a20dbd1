"""langchain-tests' VectorStoreIntegrationTests on the stores umi-dst's adapters register."""

import faiss
import lancedb
import pytest
from langchain_community.docstore.in_memory import InMemoryDocstore
from langchain_community.vectorstores import FAISS, LanceDB
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_qdrant import QdrantVectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests
from qdrant_client import QdrantClient, models


class TestInMemory(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self):
        return InMemoryVectorStore(self.get_embeddings())


class TestQdrantLocal(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path):
        client = QdrantClient(path=str(tmp_path / "q"))
        client.create_collection("c", vectors_config=models.VectorParams(size=6, distance=models.Distance.COSINE))
        yield QdrantVectorStore(client, "c", self.get_embeddings())
        client.close()


class TestFaiss(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self):
        return FAISS(self.get_embeddings(), faiss.IndexFlatL2(6), InMemoryDocstore(), {}, normalize_L2=True)


class TestLanceDB(VectorStoreIntegrationTests):
    has_get_by_ids = False

    @pytest.fixture
    def vectorstore(self, tmp_path):
        return LanceDB(connection=lancedb.connect(str(tmp_path / "l")), embedding=self.get_embeddings(), mode="append")
