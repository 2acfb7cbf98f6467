"""Image tokens by OpenAI's gpt-4o rule, and image header sniffing (PNG, JPEG, WEBP, GIF; no Pillow).

Token rule (vision guide, gpt-4o; pricing reference §2.3):

- `detail: "low"`: 85 tokens, whatever the size.
- `detail: "high"` or `"auto"` (or absent): fit the image inside 2048x2048 keeping its aspect ratio, then scale
  it down so that its shortest side is 768 px (never up), truncating each side to whole pixels as a resize
  does; then 85 + 170 x (number of 512-px tiles, each side rounded up).
  1024x1024 -> 765, 2048x4096 -> 1105, 1920x1080 -> 1105, 128x64 -> 255.

gpt-4o-mini (inference only: it is not vision-fine-tunable) uses the same tiles at other weights: 2,833 + 5,667 a
tile, 2,833 at low detail (pricing reference §2.3 and TV6: 1024x1024 -> 25,501, 2048x4096 -> 36,835, 128x64 ->
8,500; low detail from the community measurement of 2,845 tokens for an image plus 12 text tokens). Pass the
model (`model=`) to count by its rule; any other model is counted by the gpt-4o rule (gpt-4.1-mini/-nano and
o4-mini use 32-px patches times a per-model multiplier, which the sources quote only from memory: not modelled).

Data URLs are decoded and their header sniffed for format and size. http(s) URLs cannot be fetched offline:
they are counted under a documented assumption, `REMOTE_ASSUMED_SIZE` (1024x1024, so 765 tokens unless
detail is low), and flagged `remote` so that callers can warn.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_IMAGE_BYTES",
    "REMOTE_ASSUMED_SIZE",
    "ImageInfo",
    "ImageRef",
    "image_tokens",
    "sniff",
    "inspect_url",
]

LOW_DETAIL_TOKENS = 85
BASE_TOKENS = 85
TILE_TOKENS = 170
# gpt-4o-mini's weights: "base 2,833 + 5,667 per tile" (pricing reference §2.3, TV6); low detail is the base.
MINI_BASE_TOKENS = 2833
MINI_TILE_TOKENS = 5667
ALLOWED_FORMATS = frozenset({"png", "jpeg", "webp"})
MAX_IMAGE_BYTES = 10 * 1024 * 1024
REMOTE_ASSUMED_SIZE = (1024, 1024)

Format = Literal["png", "jpeg", "webp", "gif"]


def _weights(model: str | None) -> tuple[int, int]:
    """(base, per-tile) tokens of `model`'s image rule: gpt-4o-mini's, or gpt-4o's for every other model."""
    name = (model or "").strip()
    if name.startswith("ft:"):  # ft:{base}:{org}:{suffix}:{id}: the base's rule
        name = name.split(":")[1]
    if name == "gpt-4o-mini" or name.startswith("gpt-4o-mini-"):
        return MINI_BASE_TOKENS, MINI_TILE_TOKENS
    return BASE_TOKENS, TILE_TOKENS


def image_tokens(width: int, height: int, detail: str | None = "auto", *, model: str | None = None) -> int:
    """Tokens `model` (default gpt-4o) bills for one image of `width` x `height` at `detail` (low, high or auto)."""
    base, per_tile = _weights(model)
    if detail == "low":
        return base  # gpt-4o: LOW_DETAIL_TOKENS (85)
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    w, h = width, height
    if max(w, h) > 2048:
        ratio = 2048 / max(w, h)
        w, h = max(1, int(w * ratio)), max(1, int(h * ratio))
    if min(w, h) > 768:
        ratio = 768 / min(w, h)
        w, h = max(1, int(w * ratio)), max(1, int(h * ratio))
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return base + per_tile * tiles


@dataclass(frozen=True)
class ImageInfo:
    """Format and pixel size read from an image's header."""

    format: Format
    width: int
    height: int


def sniff(data: bytes) -> ImageInfo | None:
    """Format and size from the first bytes of a PNG, JPEG, WEBP or GIF image; None if not recognised."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return ImageInfo("png", w, h) if w and h else None
        if data.startswith(b"\xff\xd8"):
            return _sniff_jpeg(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _sniff_webp(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return ImageInfo("gif", w, h) if w and h else None
    except struct.error:
        return None
    return None


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _sniff_jpeg(data: bytes) -> ImageInfo | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF_MARKERS:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return ImageInfo("jpeg", w, h) if w and h else None
        if length < 2:
            return None
        i += 2 + length
    return None


def _sniff_webp(data: bytes) -> ImageInfo | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        w, h = w & 0x3FFF, h & 0x3FFF
    elif chunk == b"VP8L" and data[20:21] == b"\x2f":
        bits = int.from_bytes(data[21:25], "little")
        w, h = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
    else:
        return None
    return ImageInfo("webp", w, h) if w and h else None


@dataclass(frozen=True)
class ImageRef:
    """One `image_url` content part, inspected: where it comes from, what it is and what it costs."""

    source: Literal["data", "remote", "invalid"]
    tokens: int
    format: str | None = None
    width: int | None = None
    height: int | None = None
    n_bytes: int | None = None
    problem: str | None = None  # why the image would be skipped (too large, bad format, undecodable)


_CACHE: dict[tuple[int, int, str, tuple[int, int]], ImageRef] = {}
_CACHE_SIZE = 32  # > 10 images per example, so validating then counting an example decodes each image once


def inspect_url(url: str, detail: str | None = "auto", *, model: str | None = None) -> ImageRef:
    """Inspect an image URL (data: or http(s)) and price it by `model`'s rule (default gpt-4o); never raises.

    Results are memoised by (hash, length) of the URL rather than by the URL itself, so that the cache never
    holds megabytes of base64.
    """
    level = detail if detail in ("low", "high", "auto") else "auto"
    weights = _weights(model)
    key = (hash(url), len(url), level, weights)
    ref = _CACHE.get(key)
    if ref is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        ref = _CACHE[key] = _inspect(url, level, model)
    return ref


def _inspect(url: str, detail: str, model: str | None = None) -> ImageRef:
    if url.startswith(("http://", "https://")):
        w, h = REMOTE_ASSUMED_SIZE
        return ImageRef("remote", image_tokens(w, h, detail, model=model))
    if not url.startswith("data:"):
        return ImageRef("invalid", 0, problem="image URL must be an http(s) URL or a base64 data: URL")
    comma = url.find(",", 0, 512)  # the header is short; the payload is never copied whole before decoding
    header = url[:comma] if comma >= 0 else url[:512]
    if comma < 0 or not header.endswith(";base64"):
        return ImageRef("invalid", 0, problem="data: image URL must be base64-encoded (data:image/png;base64,...)")
    declared = header[5:].split(";")[0].lower()
    n_chars = len(url) - comma - 1
    if n_chars // 4 * 3 - 2 > MAX_IMAGE_BYTES:  # over the limit whatever the padding: no need to decode it
        n_bytes = n_chars // 4 * 3 - (url.endswith("==") + url.endswith("="))
        return ImageRef("invalid", 0, n_bytes=n_bytes, problem=f"image is {n_bytes} bytes, over the 10 MB limit")
    try:
        data = base64.b64decode(url[comma + 1:], validate=False)
    except (binascii.Error, ValueError):
        return ImageRef("invalid", 0, problem="data: image URL holds invalid base64")
    if len(data) > MAX_IMAGE_BYTES:
        return ImageRef("invalid", 0, n_bytes=len(data), problem=f"image is {len(data)} bytes, over the 10 MB limit")
    info = sniff(data)
    if info is None:
        return ImageRef("invalid", 0, n_bytes=len(data), problem=f"image data ({declared or 'unknown type'}) is not a readable PNG, JPEG or WEBP")
    if info.format not in ALLOWED_FORMATS:
        return ImageRef(
            "invalid", 0, info.format, info.width, info.height, len(data),
            problem=f"image format {info.format} is not supported (jpeg, png or webp)",
        )
    return ImageRef("data", image_tokens(info.width, info.height, detail, model=model), info.format, info.width,
                    info.height, len(data))
