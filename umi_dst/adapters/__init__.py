"""Adapters: test a store through the integration layer applications use (LangChain, mem0).

An adapter turns a user's store builder into a backend spec, so a whole campaign runs on any
LangChain ``VectorStore`` or mem0 ``VectorStoreBase`` with no factory to write. ``scores`` and
``records`` hold what both layers share; ``langchain`` and ``mem0`` import their library only
when used.
"""
