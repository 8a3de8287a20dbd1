"""umi-dst: property-based deterministic simulation testing of vector storage backends."""

from umi_dst.contract import (
    BackendFactory,
    InjectedFault,
    InvalidInput,
    Nemesis,
    SearchResult,
    VectorBackend,
    WriteCall,
)

__version__ = "0.1.0"

__all__ = [
    "BackendFactory",
    "InjectedFault",
    "InvalidInput",
    "Nemesis",
    "SearchResult",
    "VectorBackend",
    "WriteCall",
    "__version__",
]
