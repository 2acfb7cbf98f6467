"""gpt-4o image token rule (TV6) and header sniffing without Pillow."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest
from hypothesis import given, strategies as st

from ftsim.pricing.dataset.images import MAX_IMAGE_BYTES, image_tokens, inspect_url, sniff


@pytest.mark.parametrize(
    ("w", "h", "tokens"),
    [(1024, 1024, 765), (2048, 4096, 1105), (4096, 8192, 1105), (1920, 1080, 1105), (128, 64, 255), (512, 512, 255), (513, 512, 425)],
)
def test_tv6_high_detail(w: int, h: int, tokens: int) -> None:
    assert image_tokens(w, h, "high") == tokens
    assert image_tokens(w, h, "auto") == tokens
    assert image_tokens(h, w, "high") == tokens  # orientation does not matter


def test_low_detail_is_flat() -> None:
    assert image_tokens(4096, 8192, "low") == 85 == image_tokens(10, 10, "low")


@given(st.integers(1, 20000), st.integers(1, 20000))
def test_tokens_bounded_and_tiled(w: int, h: int) -> None:
    tokens = image_tokens(w, h)
    assert 255 <= tokens <= 85 + 170 * 8  # at most 768 x 2048 after scaling: 2 x 4 tiles
    assert (tokens - 85) % 170 == 0


def png(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x10\x20\x30" * w for _ in range(h))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def jpeg(w: int, h: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def webp_vp8x(w: int, h: int) -> bytes:
    payload = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def webp_lossless(w: int, h: int) -> bytes:
    bits = (w - 1) | ((h - 1) << 14)
    payload = b"VP8L" + struct.pack("<I", 5) + b"\x2f" + bits.to_bytes(4, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def test_sniff_formats() -> None:
    assert (sniff(png(17, 9)).format, sniff(png(17, 9)).width, sniff(png(17, 9)).height) == ("png", 17, 9)
    info = sniff(jpeg(640, 480))
    assert (info.format, info.width, info.height) == ("jpeg", 640, 480)
    info = sniff(webp_vp8x(3000, 2000))
    assert (info.format, info.width, info.height) == ("webp", 3000, 2000)
    info = sniff(webp_lossless(100, 50))
    assert (info.format, info.width, info.height) == ("webp", 100, 50)
    assert sniff(b"GIF89a" + struct.pack("<HH", 5, 6)).format == "gif"
    assert sniff(b"hello") is None and sniff(b"") is None and sniff(b"\xff\xd8\xff") is None


@given(st.binary(max_size=64))
def test_sniff_never_raises(data: bytes) -> None:
    sniff(data)
    sniff(b"\xff\xd8" + data)
    sniff(b"RIFF\x00\x00\x00\x00WEBP" + data)


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def test_inspect_data_url_prices_by_real_size() -> None:
    ref = inspect_url(data_url(jpeg(1024, 1024), "image/jpeg"), "high")
    assert (ref.source, ref.format, ref.width, ref.height, ref.tokens, ref.problem) == ("data", "jpeg", 1024, 1024, 765, None)
    assert inspect_url(data_url(png(8, 8)), "low").tokens == 85


def test_inspect_remote_url_uses_documented_assumption() -> None:
    assert inspect_url("https://example.com/cat.png").source == "remote"
    assert inspect_url("https://example.com/cat.png").tokens == 765
    assert inspect_url("https://example.com/cat.png", "low").tokens == 85


def test_inspect_problems_are_skips_not_crashes() -> None:
    assert "10 MB" in inspect_url(data_url(png(1, 1) + b"\x00" * MAX_IMAGE_BYTES)).problem
    assert "not supported" in inspect_url(data_url(b"GIF89a" + struct.pack("<HH", 5, 6), "image/gif")).problem
    assert inspect_url(data_url(b"plain text")).problem
    assert inspect_url("data:image/png,rawbytes").problem
    assert inspect_url("ftp://host/img.png").source == "invalid"


@pytest.mark.parametrize(
    ("w", "h", "detail", "tokens"),
    [(1024, 1024, "high", 25_501), (2048, 4096, "high", 36_835), (128, 64, "auto", 8_500), (4096, 8192, "low", 2_833)],
)
def test_tv6_gpt_4o_mini_inference(w: int, h: int, detail: str, tokens: int) -> None:
    """TV6: gpt-4o-mini bills 2,833 + 5,667 a tile over gpt-4o's tiles (so ~33x gpt-4o's tokens)."""
    assert image_tokens(w, h, detail, model="gpt-4o-mini-2024-07-18") == tokens
    assert image_tokens(w, h, detail, model="gpt-4o-2024-08-06") == image_tokens(w, h, detail)


@given(st.integers(1, 5000), st.integers(1, 5000))
def test_gpt_4o_mini_tiles_are_gpt_4o_tiles(w: int, h: int) -> None:
    tiles = (image_tokens(w, h) - 85) // 170
    assert image_tokens(w, h, model="gpt-4o-mini") == 2833 + 5667 * tiles
