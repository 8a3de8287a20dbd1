"""The ``Embeddings`` of an exported LangChain script: each text embeds as the vector the
step wrote for it (the adapter's ``ExactEmbeddings``, without umi-dst)."""

from langchain_core.embeddings import Embeddings


class Exact(Embeddings):
    """Each text (a record's id) embeds as the vector the write in progress gave it; outside a
    write (a store probing its dimension) every text embeds as the first basis vector."""

    def __init__(self, dim):
        self.dim = dim
        self.table = None

    def expect(self, texts, vectors):
        self.table = {text: [float(x) for x in vector] for text, vector in zip(texts, vectors)}

    def embed_documents(self, texts):
        if self.table is None:
            return [[1.0] + [0.0] * (self.dim - 1) for _ in texts]
        unknown = [text for text in texts if text not in self.table]
        assert not unknown, f"the store asked to embed {unknown!r}, texts no step wrote"
        return [self.table[text] for text in texts]

    def embed_query(self, text):
        return self.embed_documents([text])[0]
