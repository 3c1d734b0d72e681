"""Strict JSON and the answer schemas of spec section 6: untrusted bytes in, typed data or errors out."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Final

from walsync.core.errors import MalformedResponse
from walsync.core.responses import JobStatus, UploadJobAccepted, UploadProcessed

__all__ = [
    "JOB_STATUSES",
    "MAX_DEPTH",
    "parse_job_status",
    "parse_json_object",
    "parse_upload_body",
    "valid_job_id",
]

JOB_STATUSES: Final = frozenset({"queued", "processing", "completed", "partial_failure", "failed"})
MAX_DEPTH: Final = 64
_SHOW: Final = 40


def _short(text: str) -> str:
    return repr(text[:_SHOW] + ("…" if len(text) > _SHOW else ""))


def _reject_constant(name: str) -> object:
    raise MalformedResponse(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedResponse("non-finite number")
    return value


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedResponse(f"duplicate key {_short(key)}")
        result[key] = value
    return result


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedResponse("lone surrogate in a string") from None


def _check_tree(root: object) -> None:
    """Depth cap and encodable strings, without recursion."""
    stack: list[tuple[object, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise MalformedResponse(f"nesting deeper than {MAX_DEPTH}")
        if isinstance(node, dict):
            for key, value in node.items():
                _check_text(key)
                stack.append((value, depth + 1))
        else:
            stack.extend((value, depth + 1) for value in node)


def parse_json_object(body: bytes) -> dict[str, object]:
    """Parse a body that must be one strict JSON object; raise MalformedResponse with a short reason."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedResponse("body is not UTF-8") from None
    try:
        value: object = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                                   object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise MalformedResponse(f"invalid JSON: {exc.msg} at char {exc.pos}") from None
    except RecursionError:
        raise MalformedResponse(f"nesting deeper than {MAX_DEPTH}") from None
    except ValueError:  # e.g. an integer over the int-digits limit
        raise MalformedResponse("number out of range") from None
    _check_tree(value)
    if not isinstance(value, dict):
        raise MalformedResponse(f"expected a JSON object, got {type(value).__name__}")
    return value


def _require_str(obj: Mapping[str, object], key: str) -> str:
    """The non-empty string at `key`."""
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedResponse(f"{key!r} must be a non-empty string")
    return value


def _optional_str(obj: Mapping[str, object], key: str) -> str | None:
    """The string at `key`, or None when absent or null."""
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedResponse(f"{key!r} must be a string or null")
    return value


def _count_field(obj: Mapping[str, object], key: str) -> int:
    """The non-negative integer at `key` (0 when absent); booleans and floats are refused."""
    value = obj.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedResponse(f"{key!r} must be a non-negative integer")
    return value


def _id_list(obj: Mapping[str, object], key: str) -> tuple[str, ...]:
    """Ids at `key`: a list of strings or of objects with a string `id` (empty when absent or null)."""
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedResponse(f"{key!r} must be a list")
    ids: list[str] = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("id")
        if not isinstance(item, str) or not item:
            raise MalformedResponse(f"{key!r} holds an entry without a string id")
        ids.append(item)
    return tuple(ids)


def valid_job_id(job_id: str) -> bool:
    """A job id usable as one URL path segment: printable, unpadded, UTF-8, not a dot segment."""
    if not 0 < len(job_id) <= 256 or job_id in {".", ".."} or not job_id.isprintable():
        return False
    try:
        job_id.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return job_id == job_id.strip()


def parse_upload_body(status: int, body: Mapping[str, object]) -> UploadProcessed | UploadJobAccepted:
    """A 200 (finished: conversation ids) or 202 (a usable job id) upload body."""
    if status == 200:
        return UploadProcessed(new_conversations=_id_list(body, "new_memories"),
                               updated_conversations=_id_list(body, "updated_memories"))
    job_id = _require_str(body, "job_id")
    if not valid_job_id(job_id):
        raise MalformedResponse("'job_id' is not a usable id")
    return UploadJobAccepted(job_id=job_id)


def parse_job_status(asked: str, body: Mapping[str, object]) -> JobStatus:
    """A 200 status body for job `asked`: known status, non-negative integer counts, id lists."""
    job_id = _require_str(body, "job_id")
    if job_id != asked:
        raise MalformedResponse("'job_id' differs from the job asked for")
    status = body.get("status")
    if not isinstance(status, str) or status not in JOB_STATUSES:
        raise MalformedResponse("unknown 'status'")
    result = body.get("result")
    if result is not None and not isinstance(result, dict):
        raise MalformedResponse("'result' must be an object or null")
    result = result or {}
    return JobStatus(
        job_id=job_id, status=status, error=_optional_str(body, "error"),
        total_segments=_count_field(body, "total_segments"),
        processed_segments=_count_field(body, "processed_segments"),
        successful_segments=_count_field(body, "successful_segments"),
        failed_segments=_count_field(body, "failed_segments"),
        new_conversations=_id_list(result, "new_memories"),
        updated_conversations=_id_list(result, "updated_memories"))
