"""Checking and cleaning uploads (pure): the real type from the bytes, the limits, and no
metadata left in what is stored."""
from __future__ import annotations

import struct
import zlib
from io import BytesIO

import pytest
from PIL import Image, PngImagePlugin

from services.common.errors import DomainError
from services.gateway import media

RULES = media.settings()
GPS = {1: "N", 2: (27.0, 30.0, 36.0), 3: "E", 4: (114.0, 5.0, 24.0)}


def photo(fmt="JPEG", size=(64, 48), mode="RGB", orientation=None, **extra) -> bytes:
    """A photo as a phone writes it: EXIF with a GPS position and the camera's make."""
    image = Image.new(mode, size, "red" if mode != "P" else 1)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = GPS
    if orientation:
        exif[0x0112] = orientation
    out = BytesIO()
    image.save(out, fmt, exif=exif.tobytes(), **extra)
    return out.getvalue()


def reopened(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    image.load()
    return image


def _code(excinfo) -> tuple[int, str, str]:
    err = excinfo.value
    return err.status, err.code, err.field


def test_sniff_reads_the_magic_number_not_the_name():
    assert media.sniff(photo("JPEG")) == "jpeg"
    assert media.sniff(photo("PNG")) == "png"
    assert media.sniff(photo("WEBP")) == "webp"
    assert media.sniff(b"GIF89a....") is None
    assert media.sniff(b"<html><script>") is None
    assert media.sniff(b"RIFF\0\0\0\0WAVEfmt ") is None


@pytest.mark.parametrize("fmt,extra", [
    ("JPEG", {"comment": b"home of the complainant"}),
    ("PNG", {"pnginfo": PngImagePlugin.PngInfo()}),
    ("WEBP", {"xmp": b"<x:xmpmeta>home of the complainant</x:xmpmeta>"}),
])
def test_metadata_is_removed_and_the_picture_kept(fmt, extra):
    if fmt == "PNG":
        extra["pnginfo"].add_text("Comment", "home of the complainant")
    original = photo(fmt, **extra)
    assert reopened(original).getexif().get(0x8825)  # the GPS is there to begin with
    cleaned = media.clean(original, RULES)
    image = reopened(cleaned.data)
    assert image.format == fmt and image.size == (64, 48)
    assert not dict(image.getexif())
    assert not {"exif", "xmp", "comment", "Comment", "icc_profile"} & set(image.info)
    assert b"home of the complainant" not in cleaned.data
    assert b"PhoneMaker" not in cleaned.data
    assert image.convert("RGB").getpixel((10, 10))[0] > 200  # still red
    assert cleaned.name == f"{cleaned.sha256}.{RULES['types'][fmt.lower()]['extension']}"


def test_orientation_is_applied_before_the_exif_goes():
    cleaned = media.clean(photo("JPEG", size=(64, 48), orientation=6), RULES)
    assert (cleaned.width, cleaned.height) == (48, 64)
    assert reopened(cleaned.data).size == (48, 64)


def test_same_photo_same_address():
    one, two = media.clean(photo("PNG"), RULES), media.clean(photo("PNG"), RULES)
    assert one.sha256 == two.sha256
    assert media.clean(photo("PNG", size=(65, 48)), RULES).sha256 != one.sha256


def test_palette_png_with_transparency_stays_transparent():
    image = Image.new("P", (8, 8), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    out = BytesIO()
    image.save(out, "PNG", transparency=0)
    cleaned = reopened(media.clean(out.getvalue(), RULES).data)
    assert cleaned.mode == "RGBA" and cleaned.getpixel((0, 0))[3] == 0


@pytest.mark.parametrize("data,expected", [
    (b"", (422, "empty_upload", "file")),
    (b"<html><script>alert(1)</script></html>", (415, "unsupported_media_type", "file")),
    (b"GIF89a" + b"\0" * 100, (415, "unsupported_media_type", "file")),
    (b"%PDF-1.7\n" + b"x" * 100, (415, "unsupported_media_type", "file")),
    (b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 10, (422, "invalid_image", "file")),
])
def test_what_is_refused(data, expected):
    with pytest.raises(DomainError) as excinfo:
        media.clean(data, RULES)
    assert _code(excinfo) == expected


def test_a_truncated_photo_is_refused():
    data = photo("JPEG", size=(400, 300))
    with pytest.raises(DomainError) as excinfo:
        media.clean(data[:len(data) // 2], RULES)
    assert _code(excinfo) == (422, "invalid_image", "file")


def test_the_byte_limit_comes_from_the_config():
    data = photo("PNG")
    with pytest.raises(DomainError) as excinfo:
        media.clean(data, dict(RULES, max_bytes=len(data) - 1))
    assert _code(excinfo) == (413, "upload_too_large", "file")
    assert media.clean(data, dict(RULES, max_bytes=len(data))).kind == "png"


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height``: a decompression bomb's shape."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [7000, 30000])
def test_too_many_pixels_is_refused_before_decoding(side):
    data = _png_header_only(side, side)
    assert len(data) < 200
    with pytest.raises(DomainError) as excinfo:
        media.clean(data, RULES)
    assert _code(excinfo) == (413, "image_too_large", "file")


def test_references_are_recognised_absolute_or_relative():
    sha = "a" * 64
    refs = media.referenced([f"https://example.org/api/v1/media/{sha}.jpg", "media:after-1",
                             f"/api/v1/media/{sha}.png", f"/api/v1/media/{sha}.gif", 12,
                             f"/api/v1/media/{sha}.jpg?x=1"])
    assert refs == [(0, sha), (2, sha)]
    assert media.referenced("not a list") == []
