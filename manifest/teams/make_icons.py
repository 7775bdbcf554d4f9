"""Draws the Teams app icons (color.png 192x192, outline.png 32x32) with a tiny PNG writer.

Run `python manifest/teams/make_icons.py` to regenerate them; the PNGs are committed.
The colour icon is a white speech bubble on the accent colour; the outline icon is
the same bubble as a white outline on a transparent background, as Teams requires.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACCENT = (0x2B, 0x57, 0x97)
WHITE = (0xFF, 0xFF, 0xFF)
SAMPLES = 4  # supersampling per axis for smooth edges

Shape = Callable[[float, float], bool]  # is the point (x, y), in 0..1 units, inside?


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGBA PNG from rows of width*4 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float) -> Shape:
    def inside(x: float, y: float) -> bool:
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            return False
        cx = min(max(x, x0 + r), x1 - r)
        cy = min(max(y, y0 + r), y1 - r)
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r

    return inside


def triangle(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> Shape:
    def side(p: tuple[float, float], q: tuple[float, float], x: float, y: float) -> float:
        return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])

    def inside(x: float, y: float) -> bool:
        s1, s2, s3 = side(a, b, x, y), side(b, c, x, y), side(c, a, x, y)
        return (s1 >= 0 and s2 >= 0 and s3 >= 0) or (s1 <= 0 and s2 <= 0 and s3 <= 0)

    return inside


def union(*shapes: Shape) -> Shape:
    return lambda x, y: any(s(x, y) for s in shapes)


def minus(shape: Shape, hole: Shape) -> Shape:
    return lambda x, y: shape(x, y) and not hole(x, y)


def coverage(shape: Shape, px: int, py: int, size: int) -> float:
    hits = 0
    for sy in range(SAMPLES):
        for sx in range(SAMPLES):
            if shape((px + (sx + 0.5) / SAMPLES) / size, (py + (sy + 0.5) / SAMPLES) / size):
                hits += 1
    return hits / (SAMPLES * SAMPLES)


def bubble(inset: float) -> Shape:
    """A speech bubble with a tail at the lower left, shrunk by `inset` (for outlines)."""
    body = rounded_rect(0.16 + inset, 0.2 + inset, 0.84 - inset, 0.68 - inset, max(0.01, 0.1 - inset))
    tail = triangle((0.3 + inset, 0.6), (0.48 - inset, 0.6), (0.24 + inset * 0.5, 0.84 - inset * 1.5))
    return union(body, tail)


def draw(size: int, pixel: Callable[[int, int], tuple[int, int, int, int]]) -> bytes:
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            row.extend(pixel(x, y))
        rows.append(bytes(row))
    return png(size, size, rows)


def color_icon(size: int = 192) -> bytes:
    glyph = bubble(0.0)
    lines = union(*(rounded_rect(0.28, y, x1, y + 0.05, 0.025) for y, x1 in ((0.33, 0.72), (0.45, 0.62))))
    glyph = minus(glyph, lines)

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        a = coverage(glyph, x, y, size)
        return (*(round(c * (1 - a) + w * a) for c, w in zip(ACCENT, WHITE, strict=True)), 255)  # type: ignore[return-value]

    return draw(size, pixel)


def outline_icon(size: int = 32) -> bytes:
    ring = minus(bubble(0.0), bubble(0.07))

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        return (*WHITE, round(255 * coverage(ring, x, y, size)))

    return draw(size, pixel)


def main() -> None:
    (HERE / "color.png").write_bytes(color_icon())
    (HERE / "outline.png").write_bytes(outline_icon())


if __name__ == "__main__":
    main()
