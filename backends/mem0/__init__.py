"""mem0 vector stores as registered backends: one module and one ``Mem0Store`` each."""
