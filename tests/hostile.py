"""Crafted photos for tests: tiny files that declare huge images, JPEGs with too many scans, and
mutants of small valid files of every format (a fixed-seed fuzzing pass)."""

import io
import random
import struct
import zlib
from typing import Dict, Iterator

from PIL import Image

from photodemo import images


def j2k(width: int, height: int) -> bytes:
    """A JPEG 2000 codestream of a few hundred bytes: one flat WIDTHxHEIGHT tile."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buffer, "JPEG2000", no_jp2=True)
    return buffer.getvalue()


def webp(width: int, height: int) -> bytes:
    """A lossless WebP of a few dozen bytes declaring WIDTHxHEIGHT: a flat image costs no bits
    per pixel, so a small one's header is patched to the size wanted."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(buffer, "WEBP", lossless=True)
    data = bytearray(buffer.getvalue())
    at = data.index(b"VP8L") + 9  # after the chunk header and the signature byte 0x2f
    bits = int.from_bytes(data[at:at + 4], "little")
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    data[at:at + 4] = bits.to_bytes(4, "little")
    return bytes(data)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, bit_depth: int = 8, colour_type: int = 6) -> bytes:
    """A black PNG (colour type 0 grey, 2 RGB, 6 RGBA), compressed row by row without holding it."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\0" * (1 + width * channels * bit_depth // 8)
    deflate = zlib.compressobj(9)
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def progressive_jpeg(scans: int, width: int = 32, height: int = 24) -> bytes:
    """A progressive JPEG whose last scan is repeated until it has SCANS scans."""
    data = images.encode(images.photo(width, height), "JPEG", progressive=True)
    last = data.rindex(b"\xff\xda")
    body, eoi = data[last:-2], data[-2:]
    present = data.count(b"\xff\xda")
    return data[:-2] + body * max(0, scans - present) + eoi


def seeds() -> Dict[str, bytes]:
    """Small valid files of every format and variant the job decodes, and of a few it refuses."""
    rgb = images.photo(24, 16, seed=1)
    made = {
        "jpeg": images.encode(rgb, "JPEG"),
        "jpeg-progressive": images.encode(rgb, "JPEG", progressive=True),
        "jpeg-cmyk": images.encode(rgb.convert("CMYK"), "JPEG"),
        "png": images.encode(rgb, "PNG"),
        "png-palette": images.encode(rgb.convert("P"), "PNG"),
        "png-16bit": images.encode(images.photo(24, 16, "I;16", 1), "PNG"),
        "png-rgba": images.encode(rgb.convert("RGBA"), "PNG"),
        "tiff": images.encode(rgb, "TIFF"),
        "tiff-lzw": images.encode(rgb, "TIFF", compression="tiff_lzw"),
        "tiff-deflate": images.encode(rgb, "TIFF", compression="tiff_adobe_deflate"),
        "tiff-jpeg": images.encode(rgb, "TIFF", compression="jpeg"),
        "jp2": images.encode(rgb, "JPEG2000"),
        "j2k": images.encode(rgb, "JPEG2000", no_jp2=True),
        "webp": images.encode(rgb, "WEBP"),
        "webp-lossless": images.encode(rgb, "WEBP", lossless=True),
        "gif": images.encode(rgb, "GIF"),
        "bmp": images.encode(rgb, "BMP"),
        "bmp-palette": images.encode(rgb.convert("P"), "BMP"),
        # formats the job refuses; mutants of these made the decoders raise ZeroDivisionError,
        # NotImplementedError, IndexError
        "dds": images.encode(rgb, "DDS"),
        "qoi": images.encode(rgb, "QOI"),
        "blp": images.encode(rgb.convert("P"), "BLP"),
        "tga": images.encode(rgb, "TGA", compression="tga_rle"),
        "ico": images.encode(rgb, "ICO"),
    }
    try:
        made["avif"] = images.encode(rgb, "AVIF")
    except (KeyError, OSError):  # a Pillow built without AVIF
        pass
    return made


def mutants(data: bytes, rng: random.Random, count: int) -> Iterator[bytes]:
    """COUNT damaged copies of DATA: truncated, header bytes changed, extreme 32-bit fields."""
    for _ in range(count):
        kind = rng.randrange(4)
        damaged = bytearray(data)
        head = min(len(damaged) - 4, 200)  # most decoders trust their headers' sizes and offsets
        if kind == 0:
            yield bytes(damaged[:rng.randrange(1, len(damaged))])
            continue
        if kind == 1:
            for _ in range(rng.randrange(1, 4)):
                damaged[rng.randrange(head)] = rng.randrange(256)
        elif kind == 2:
            at = rng.randrange(head)
            damaged[at:at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\0\0\0\0", b"\x7f\xff\xff\xff",
                                             b"\x80\0\0\0", b"\0\0\0\x01"])
        else:
            for _ in range(rng.randrange(1, 8)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        yield bytes(damaged)
