"""LangChain integrations as registered backends: one module and one ``LangChainStore`` each."""
