"""Files in the record, as the spaces show them: what a patient may upload, and how a stored attachment is read back
(shown as text, or downloaded).

A file's type is read from its first bytes (``filetype``), never from its name or the type the browser declares: a
script renamed ``.pdf`` is refused. Downloads are sent as attachments with ``nosniff`` and a sandboxing CSP, so a
document never runs in the application's origin.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import filetype
from fastapi.responses import Response

from parcours.care.errors import not_found
from parcours.record.service import EntryView

# What a patient may file: the formats of medical documents in Mon Espace Santé (PDF, scanned images) and text.
ACCEPTED_TYPES = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}
TEXT_TYPE = "text/plain; charset=utf-8"
EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png", "text/plain": "txt"}


class UploadError(ValueError):
    """A file that cannot be filed (French message for the form)."""


@dataclass(frozen=True)
class Attachment:
    content_type: str  # without parameters: application/pdf, text/plain…
    data: bytes

    @property
    def text(self) -> str | None:
        """The content as text, when it is text (UTF-8)."""
        if self.content_type != "text/plain":
            return None
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    @property
    def label(self) -> str:
        kind = ACCEPTED_TYPES.get(self.content_type, "texte" if self.content_type == "text/plain" else "fichier")
        return f"{kind}, {size_fr(len(self.data))}"


def size_fr(size: int) -> str:
    if size < 1024:
        return f"{size} octets"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} ko"
    return f"{size / (1024 * 1024):.1f} Mo".replace(".", ",")


def checked_upload(data: bytes, limit: int) -> str:
    """The type of an uploaded file, once it is known to be an accepted one and small enough."""
    if not data:
        raise UploadError("le fichier est vide")
    if len(data) > limit:
        raise UploadError(f"fichier trop volumineux (au plus {size_fr(limit)})")
    kind = filetype.guess_mime(data)
    if kind not in ACCEPTED_TYPES:
        raise UploadError("format non accepté : PDF, JPEG ou PNG")
    return str(kind)


def attachment_of(resource: Mapping[str, Any]) -> Attachment | None:
    """The first readable attachment of a DocumentReference (inline ``data``, base64)."""
    for content in resource.get("content") or []:
        attachment = content.get("attachment") if isinstance(content, dict) else None
        if not isinstance(attachment, dict) or not attachment.get("data"):
            continue
        try:
            data = base64.b64decode(attachment["data"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            continue
        content_type = str(attachment.get("contentType") or "application/octet-stream").split(";")[0].strip().lower()
        return Attachment(content_type, data)
    return None


def file_of(view: EntryView) -> Attachment:
    """The file of a record entry to download: a DocumentReference with a readable attachment, else not found."""
    attachment = attachment_of(view.entry.resource) if view.entry.resource_type == "DocumentReference" else None
    if attachment is None:
        raise not_found("entry_id", "fichier du document")
    return attachment


def download(attachment: Attachment, title: str) -> Response:
    """The file as a download: its stored type, a safe file name, never rendered inline by the browser."""
    extension = EXTENSIONS.get(attachment.content_type, "bin")
    name = "".join(c if c.isalnum() or c in "-_ " else "_" for c in title).strip() or "document"
    ascii_name = "".join(c if c.isascii() else "_" for c in name)
    media_type = TEXT_TYPE if attachment.content_type == "text/plain" else attachment.content_type
    return Response(attachment.data, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}.{extension}\"; filename*=UTF-8''{quote(name)}.{extension}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "no-store",
    })  # fmt: skip
