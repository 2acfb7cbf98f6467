"""Deterministic ids: the same seed and the same sequence of creations give the same ids.

An id is a hash of (seed, counter), or of (seed, tenant, counter) for a tenant's objects: each tenant has its own
counter (`Backend.new_id`), so its ids do not depend on other tenants' requests. The counter is persisted with the
object it names and read back from the store for every id, so a restart never re-issues an id and a transaction
that rolls back takes its ids back.
"""

from __future__ import annotations

import hashlib

__all__ = ["base62", "mint"]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# Two base62 digits at a time (least significant first), for half the big-int divisions: ids and event ids are
# minted for every step of every simulated job.
_PAIRS = [_ALPHABET[r % 62] + _ALPHABET[r // 62] for r in range(62 * 62)]


def base62(data: bytes, length: int) -> str:
    """Encode bytes as `length` base62 characters: the number's `length` lowest base62 digits, lowest first."""
    n = int.from_bytes(data, "big")
    pairs = _PAIRS
    out = []
    for _ in range(length >> 1):
        n, r = divmod(n, 3844)
        out.append(pairs[r])
    if length & 1:
        out.append(_ALPHABET[n % 62])
    return "".join(out)


def mint(seed: int, prefix: str, n: int, length: int = 24, *, hex: bool = False, scope: str | None = None) -> str:
    """The id numbered `n` of `scope`'s counter (a tenant's; None: unscoped), e.g. `ftjob-<24 base62>`; `hex`:
    lowercase hex digits (uploads, parts)."""
    material = f"{seed}:{n}" if scope is None else f"{seed}:{scope}:{n}"
    digest = hashlib.sha256(material.encode())
    if hex:
        return prefix + digest.hexdigest()[:length]
    return prefix + base62(digest.digest(), length)
