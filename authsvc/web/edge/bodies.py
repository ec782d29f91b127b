"""Request bodies: JSON or form, string fields only, checked at the edge before any service sees them."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from authsvc.errors import BadRequest, UnsupportedMediaType

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


async def _read_mapping(request: web.Request) -> dict[str, Any]:
    content_type = request.content_type
    if content_type == "application/json" or content_type.endswith("+json"):
        raw = await request.read()
        try:
            data = json.loads(raw, object_pairs_hook=_reject_duplicate_keys)
        except (ValueError, RecursionError):
            raise BadRequest("The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise BadRequest("The body must be a JSON object.")
        return data
    if content_type in FORM_TYPES:
        try:
            form = await request.post()
        except (ValueError, HttpProcessingError):  # e.g. a multipart part with a malformed header
            raise BadRequest("The body is not a valid form.") from None
        if len(form) != len(set(form.keys())):
            raise BadRequest("A form field appears more than once.")
        return dict(form)
    raise UnsupportedMediaType("Send application/json or application/x-www-form-urlencoded.")


async def read_fields(
    request: web.Request, *names: str, optional: tuple[str, ...] = (), one_of: bool = False
) -> dict[str, str]:
    """Exactly these fields (plus those of optional that are sent), each a string; anything else answers 400 with
    one message per field. one_of: exactly one of names."""
    data = await _read_mapping(request)
    fields, errors = _string_fields(data, names, optional, one_of)
    if errors:
        raise BadRequest("The request body does not have the expected fields.", errors=errors)
    return fields


async def read_string_list(request: web.Request, name: str) -> list[str]:
    """A JSON object with exactly one field, `name`, an array of strings (JSON only: a form has no arrays); anything
    else answers 400 with one message per field."""
    if not (request.content_type == "application/json" or request.content_type.endswith("+json")):
        raise UnsupportedMediaType("Send application/json.")
    data = await _read_mapping(request)
    value = data.get(name)
    errors = [{"pointer": f"#/{key}", "detail": "is not allowed"} for key in data if key != name]
    if name not in data:
        errors.append({"pointer": f"#/{name}", "detail": "is required"})
    elif not isinstance(value, list) or not all(isinstance(item, str) and _is_encodable(item) for item in value):
        errors.append({"pointer": f"#/{name}", "detail": "must be an array of strings"})
    if errors:
        raise BadRequest("The request body does not have the expected fields.", errors=errors)
    assert isinstance(value, list)
    return value


async def read_ceremony(
    request: web.Request, *names: str, optional: tuple[str, ...] = ()
) -> tuple[dict[str, str], dict[str, Any]]:
    """A passkey ceremony's answer: these string fields, and `credential`, the JSON object the browser's
    navigator.credentials call returned (checked by the ceremony, not here)."""
    data = await _read_mapping(request)
    credential = data.pop("credential", None)
    errors = [] if isinstance(credential, dict) else [{"pointer": "#/credential", "detail": "must be a JSON object"}]
    fields, field_errors = _string_fields(data, names, optional, False)
    if errors or field_errors:
        raise BadRequest("The request body does not have the expected fields.", errors=errors + field_errors)
    assert isinstance(credential, dict)
    return fields, credential


def _string_fields(
    data: dict[str, Any], names: tuple[str, ...], optional: tuple[str, ...], one_of: bool
) -> tuple[dict[str, str], list[dict[str, str]]]:
    allowed = (*names, *optional)
    if one_of:
        sent = [name for name in names if name in data]
        errors = (
            []
            if len(sent) == 1
            else [{"pointer": f"#/{names[0]}", "detail": f"send exactly one of {', '.join(names)}"}]
        )
        names = tuple(sent)
    else:
        errors = [{"pointer": f"#/{name}", "detail": "is required"} for name in names if name not in data]
    errors += [{"pointer": f"#/{key}", "detail": "is not allowed"} for key in data if key not in allowed]
    names = (*names, *(name for name in optional if name in data))
    for name in names:
        value = data.get(name)
        if name not in data:
            continue
        if not isinstance(value, str):
            errors.append({"pointer": f"#/{name}", "detail": "must be a string"})
        elif not _is_encodable(value):
            errors.append({"pointer": f"#/{name}", "detail": "must be valid Unicode text"})
    return {name: data[name] for name in (*names, *optional) if name in data}, errors


def _is_encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from JSON "\ud800"
        return False
    return True
