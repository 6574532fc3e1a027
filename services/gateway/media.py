"""Uploads (证据照片): photos for complaints, patrol reports and task closure.

An upload is accepted for what its bytes are, never for its name or declared type: the magic
number must be JPEG, PNG or WebP, the header's pixel count within the limit, and the whole image
must decode. It is then written again without any metadata: EXIF (a phone's GPS position, the
camera's serial number, the time), XMP, ICC profiles and comments are all dropped. A
complainant's GPS is personal data and may point at their home; the place a case needs is its
own ``lat``/``lon``, which the complainant gives on purpose. The orientation is applied first,
so a photo does not turn on its side when its EXIF goes.

The cleaned bytes are stored content-addressed (``<sha256>.<ext>`` under the media directory)
and described by a ``media`` row. Who may see one is decided by the records that reference it
(``media_link``): staff who may read the case or task, and the staff account that uploaded it.
The public and other regions never may: a complainant cannot read back a photo either.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import yaml
from nameko.exceptions import RemoteError
from nameko.extensions import DependencyProvider
from PIL import Image, ImageOps
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from services.common import config
from services.common.errors import DomainError, NotFound, ValidationError
from services.gateway.models import Media, MediaLink

log = logging.getLogger(__name__)

CONFIG_FILE = config.ROOT / "infra" / "config" / "uploads.yaml"
NAME = re.compile(r"([0-9a-f]{64})\.(jpg|png|webp)")
# A reference to one of our uploads inside ``media`` / ``evidence``: absolute or relative URL.
REFERENCE = re.compile(r"(?:^|/)api/v1/media/([0-9a-f]{64})\.(?:jpg|png|webp)$")
# Body fields that may reference uploads, and the record a successful call binds them to.
REFERENCING_FIELDS = {"media": "case", "evidence": "task"}
_MAGIC = (("jpeg", (b"\xff\xd8\xff",)), ("png", (b"\x89PNG\r\n\x1a\n",)))


@functools.lru_cache(maxsize=4)
def settings(path: str | None = None) -> dict:
    path = path or os.environ.get("ENVGRID_UPLOADS_CONFIG", CONFIG_FILE)
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


class MediaStore(DependencyProvider):
    """Where uploads live and how their URLs start. ``MEDIA_DIR`` (service config), else
    ``ENVGRID_MEDIA_DIR``, else ``<ENVGRID_DATA>/media``: several gateway instances must share
    it (a shared volume). ``PUBLIC_BASE_URL`` starts the ``media_url`` (else the request's host)."""

    def setup(self):
        cfg = self.container.config
        value = cfg.get("MEDIA_DIR") or os.environ.get("ENVGRID_MEDIA_DIR")
        self.directory = Path(value) if value else config.data_dir() / "media"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.base_url = cfg.get("PUBLIC_BASE_URL") or os.environ.get("PUBLIC_BASE_URL")

    def get_dependency(self, worker_ctx):
        return self


def _error(status: int, code: str, message: str) -> DomainError:
    return DomainError(message, code=code, field="file", status=status)


# --- checking and cleaning (pure) -------------------------------------------------------------
def sniff(data: bytes) -> str | None:
    """The real type from the magic number: ``jpeg``, ``png``, ``webp`` or None."""
    for kind, magics in _MAGIC:
        if any(data.startswith(m) for m in magics):
            return kind
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class Cleaned:
    data: bytes
    kind: str
    content_type: str
    extension: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def name(self) -> str:
        return f"{self.sha256}.{self.extension}"


def clean(data: bytes, rules: dict) -> Cleaned:
    """Check ``data`` and return it re-encoded without metadata, or raise a 4xx DomainError."""
    if not data:
        raise _error(422, "empty_upload", "the upload is empty")
    if len(data) > int(rules["max_bytes"]):
        raise _error(413, "upload_too_large", f"uploads are limited to {rules['max_bytes']} bytes")
    kind = sniff(data)
    types = rules["types"]
    if kind not in types:
        raise _error(415, "unsupported_media_type",
                     "only " + ", ".join(t["content_type"] for t in types.values()) +
                     " are accepted")
    try:
        with Image.open(BytesIO(data)) as probe:
            if (probe.format or "").lower() != kind:
                raise _error(415, "unsupported_media_type", "the file is not what it claims")
            width, height = probe.size
            if width * height > int(rules["max_pixels"]):
                raise _error(413, "image_too_large",
                             f"images are limited to {rules['max_pixels']} pixels")
            probe.verify()
        with Image.open(BytesIO(data)) as image:
            image.load()
            out, size = _encode(ImageOps.exif_transpose(image), kind,
                                int(rules.get("quality", 88)))
    except DomainError:
        raise
    except Image.DecompressionBombError:
        raise _error(413, "image_too_large", f"images are limited to {rules['max_pixels']} pixels")
    except Exception:  # Pillow reports a broken file with many exception types
        raise _error(422, "invalid_image", "the image could not be decoded")
    return Cleaned(out, kind, types[kind]["content_type"], types[kind]["extension"], *size)


def _encode(image: Image.Image, kind: str, quality: int) -> tuple[bytes, tuple[int, int]]:
    keep = {"jpeg": ("RGB", "L"), "png": ("RGB", "RGBA", "L", "LA"), "webp": ("RGB", "RGBA")}
    if image.mode not in keep[kind]:
        alpha = "A" in image.getbands() or "transparency" in image.info
        image = image.convert("RGB" if kind == "jpeg" or not alpha else "RGBA")
    image.info = {}  # no EXIF, XMP, ICC, comments or text chunks are carried over
    out = BytesIO()
    options = {"jpeg": {"quality": quality, "optimize": True}, "png": {"optimize": False},
               "webp": {"quality": quality, "method": 4}}[kind]
    image.save(out, format=kind.upper(), **options)
    return out.getvalue(), image.size


# --- storage ----------------------------------------------------------------------------------
def path_of(directory: Path, name: str) -> Path:
    return directory / name[:2] / name


def store(directory: Path, cleaned: Cleaned) -> Path:
    """Write the file once (same content, same name); a reader never sees half a file."""
    path = path_of(directory, cleaned.name)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(cleaned.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_upload(request, rules: dict) -> bytes:
    """The uploaded bytes: a raw body, or the ``file`` part of a multipart form. Never reads
    more than the limit (and a little for the form's own overhead)."""
    limit = int(rules["max_bytes"])
    if request.content_length and request.content_length > limit + 64 * 1024:
        raise _error(413, "upload_too_large", f"uploads are limited to {limit} bytes")
    declared = request.mimetype if request.headers.get("Content-Type") else \
        "application/octet-stream"
    if declared == "multipart/form-data":
        request.max_content_length = limit + 64 * 1024
        request.max_form_memory_size = 64 * 1024
        request.max_form_parts = 20
        try:
            part = request.files.get("file")
        except HTTPException as err:
            raise _error(413 if err.code == 413 else 422,
                         "upload_too_large" if err.code == 413 else "invalid_upload",
                         "the form could not be read")
        if part is None:
            raise ValidationError("the form has no 'file' part", code="missing_field",
                                  field="file")
        data = part.stream.read(limit + 1)
    else:
        data = request.stream.read(limit + 1)
        if data and declared not in rules["declared_ok"]:
            raise _error(415, "unsupported_media_type",
                         f"Content-Type {declared} is not accepted")
    if len(data) > limit:
        raise _error(413, "upload_too_large", f"uploads are limited to {limit} bytes")
    return data


# --- the endpoints' work ----------------------------------------------------------------------
def upload(service, principal, request) -> dict:
    rules = settings()
    cleaned = clean(read_upload(request, rules), rules)
    store(service.media.directory, cleaned)

    def record(uow):
        if uow.session.get(Media, cleaned.sha256) is None:
            uow.session.add(Media(sha256=cleaned.sha256, extension=cleaned.extension,
                                  content_type=cleaned.content_type, size=len(cleaned.data),
                                  width=cleaned.width, height=cleaned.height,
                                  created_at=uow.now))
        if principal.id is not None:
            _link(uow, cleaned.sha256, "uploader", principal.id)
    _write(service, record)
    base = (service.media.base_url or request.host_url).rstrip("/")
    return {"media_id": cleaned.sha256, "media_url": f"{base}/api/v1/media/{cleaned.name}",
            "content_type": cleaned.content_type, "size": len(cleaned.data),
            "width": cleaned.width, "height": cleaned.height}


def read(service, principal, name: str) -> Response:
    match = NAME.fullmatch(name or "")
    absent = NotFound("no such photo in your region", code="media_not_found", field="name")
    if match is None:
        raise absent
    sha, extension = match.groups()
    with service.db.unit_of_work() as uow:
        content_type = uow.session.scalar(select(Media.content_type).where(
            Media.sha256 == sha, Media.extension == extension))
        links = [(ln.kind, ln.ref) for ln in uow.session.scalars(
            select(MediaLink).where(MediaLink.sha256 == sha))]
    if content_type is None or not _may_see(service, principal, links):
        raise absent
    path = path_of(service.media.directory, name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise absent
    response = Response(data, content_type=content_type)
    response.headers.update({
        "Cache-Control": "private, max-age=3600", "ETag": f'"{sha}"',
        "X-Content-Type-Options": "nosniff", "Content-Disposition": f'inline; filename="{name}"',
        "Content-Security-Policy": "default-src 'none'; sandbox"})
    return response


def _may_see(service, principal, links: list[tuple[str, str]]) -> bool:
    if ("uploader", principal.id) in links:
        return True
    readers = {"case": service.complaints.get_case, "task": service.dispatch.get_task}
    for kind, ref in links:
        if kind not in readers:
            continue
        try:
            readers[kind](ref, principal.as_dict())
            return True
        except RemoteError as err:
            if err.exc_type != "NotFound":
                raise
    return False


# --- references from submissions --------------------------------------------------------------
def referenced(values) -> list[tuple[int, str]]:
    """(position, sha256) of every reference to one of our uploads in a list of strings."""
    out = []
    for i, value in enumerate(values if isinstance(values, list) else []):
        match = REFERENCE.search(value) if isinstance(value, str) else None
        if match:
            out.append((i, match.group(1)))
    return out


def check_references(service, body, fields=tuple(REFERENCING_FIELDS)) -> None:
    """Refuse a body that names an upload we do not have (a typo, or a photo never sent)."""
    if not isinstance(body, dict):
        return
    for field in fields:
        refs = referenced(body.get(field))
        if not refs:
            continue
        with service.db.unit_of_work() as uow:
            known = set(uow.session.scalars(select(Media.sha256).where(
                Media.sha256.in_([sha for _, sha in refs]))))
        for i, sha in refs:
            if sha not in known:
                raise ValidationError(f"{field}.{i} is not an uploaded photo",
                                      code="unknown_media", field=f"{field}.{i}")


def bind(service, values, kind: str, ref: str | None) -> None:
    """Record that ``ref`` (a case or task) references these uploads."""
    shas = {sha for _, sha in referenced(values)}
    if not shas or not ref:
        return
    _write(service, lambda uow: [_link(uow, sha, kind, ref) for sha in sorted(shas)])


def bind_result(service, body, payload, params: dict) -> None:
    """After a successful call: bind the uploads its body referenced to the record it made or
    acted on (a new case's number, or the task in the path)."""
    if not isinstance(body, dict):
        return
    for field, kind in REFERENCING_FIELDS.items():
        if not body.get(field):
            continue
        ref = params.get("task_id") if kind == "task" else (
            payload.get("case_no") if isinstance(payload, dict) else None)
        try:
            bind(service, body[field], kind, ref)
        except Exception:  # the call is done and answered; the photo stays its uploader's
            log.warning("binding uploads to %s %s failed", kind, ref, exc_info=True)


def _write(service, change) -> None:
    """Run ``change(uow)`` and commit; a concurrent writer of the same rows (the same photo
    uploaded twice at once) makes the first try fail on a key, and the second finds them."""
    for attempt in (1, 2):
        with service.db.unit_of_work() as uow:
            change(uow)
            try:
                uow.commit()
                return
            except IntegrityError:
                if attempt == 2:
                    raise


def _link(uow, sha: str, kind: str, ref: str) -> None:
    if uow.session.get(MediaLink, (sha, kind, ref)) is None:
        uow.session.add(MediaLink(sha256=sha, kind=kind, ref=ref, created_at=uow.now))
