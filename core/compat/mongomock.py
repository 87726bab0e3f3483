"""mongomock's query matcher: a read rule's MongoDB filter decided for one document in hand (mongomock 4.3.0).

Why no public API serves: mongomock's public surface is a client; matching through it would mean
inserting each document into a throwaway collection (a deep copy and index bookkeeping per
decision), and single reads, realtime events and clone closures decide per document."""

from __future__ import annotations

try:
    from mongomock.filtering import filter_applies
except ImportError as exc:  # say which internal went, not only which name failed to import
    raise ImportError("mongomock no longer has filtering.filter_applies, which core/compat/mongomock.py "
                      "matches read rules with (checked against mongomock 4.3.0)") from exc


def matches(query: dict, document: dict) -> bool:
    """Would ``query`` select ``document``, with MongoDB's semantics (dotted paths, arrays, ``$in`` ...)?"""
    return filter_applies(query, document)
