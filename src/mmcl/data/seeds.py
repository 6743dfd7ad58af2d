"""Stable seeds from integers, for random draws that must not depend on process or worker."""

from __future__ import annotations

import hashlib
import struct


def mix(*values: int) -> int:
    """A stable 64-bit hash of integers (Python's hash() is salted per process)."""
    packed = struct.pack(f"<{len(values)}q", *values)
    return int.from_bytes(hashlib.blake2b(packed, digest_size=8).digest(), "little")
