"""The embedded store's bucket documents: their collection, sizes and families, the stable
hashes that place an item, and the JSON string that holds a bucket's items."""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Mapping, Sequence

# The embedded store's one collection (see EmbeddedGraphStore). The two before it are the
# earlier one-document-per-item layout: no longer written, still dropped by drop_project.
BUCKETS_COLLECTION = "graph_buckets"
NODES_COLLECTION = "graph_nodes"
RELATIONSHIPS_COLLECTION = "graph_relationships"
ROOT_BITS = 6  # 64 root buckets per family; more appear only by splitting
_ROOT_MASK = (1 << ROOT_BITS) - 1
# A bucket's items string is kept under this (split beyond it): well below BSON's 16 MB, and
# small enough that rewriting one bucket for a single new item stays cheap.
BUCKET_BYTES = 1 << 20
_MAX_ATTEMPTS = 64  # compare-and-set rounds before a write gives up under contention
_NODES, _OUT, _IN = "n", "o", "i"
_FAMILIES = (_NODES, _OUT, _IN)


class _Request:
    """One routed item of a bucket operation: an entry to add/remove, or a node to read."""

    __slots__ = ("kind", "entry", "node", "nh", "_kh")

    def __init__(self, kind: str, entry: tuple | None, node: tuple[str, str], nh: int) -> None:
        self.kind, self.entry, self.node, self.nh, self._kh = kind, entry, node, nh, None

    @property
    def kh(self) -> int:
        if self._kh is None:
            self._kh = _hash(self.entry, b"key")
        return self._kh


def _hash(parts: Sequence[str], person: bytes) -> int:
    """A stable 64-bit hash (Python's hash() is salted per process, buckets outlive processes)."""
    data = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, person=person).digest(), "little")


def _dump_items(items: Iterable[tuple]) -> str:
    # One JSON string per bucket, not a BSON array: the embedded stores deep-copy and walk
    # every array element on each write, a string is copied as one object.
    return json.dumps(sorted(items), separators=(",", ":"))


def _load_items(doc: Mapping[str, Any] | None) -> set[tuple]:
    if not doc or not doc.get("items"):
        return set()
    return {tuple(item) for item in json.loads(doc["items"])}
