"""Request bodies: JSON or form, declared once as a Body model (web/api/bodies.py), checked at the edge before any
service sees them; the OpenAPI document's request schemas are generated from the same models."""

from __future__ import annotations

import json
from typing import Any, ClassVar, TypeVar, get_args, get_origin

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, WithJsonSchema
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

from authsvc.errors import BadRequest, UnsupportedMediaType

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


async def _read_mapping(request: web.Request) -> dict[str, Any]:
    content_type = request.content_type
    if _is_json(content_type):
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


class Body(BaseModel):
    """A request body: exactly the declared fields, nothing else. A field is a string (`str`, or `str | None = None`
    when it may be absent), a list of strings, or a JSON object; read_body checks them by hand, so that each
    refusal keeps its one message."""

    model_config = ConfigDict(extra="forbid")
    one_of: ClassVar[tuple[str, ...]] = ()  # exactly one of these (optional) fields must be sent


B = TypeVar("B", bound=Body)
STRING, STRINGS, OBJECT = "string", "strings", "object"
COMPONENT = "x-authsvc-component"


async def read_body(request: web.Request, model: type[B]) -> B:
    """The body as `model`, from JSON or a form (JSON only for a list field); anything else answers 400 with one
    message per field, or 415. A form's credential is refused as not a JSON object, as it always was."""
    kinds = field_kinds(model)
    if STRINGS in kinds.values() and not _is_json(request.content_type):  # a form has no arrays
        raise UnsupportedMediaType("Send application/json.")
    data = await _read_mapping(request)
    errors = _field_errors(data, model, kinds)
    if errors:
        raise BadRequest("The request body does not have the expected fields.", errors=errors)
    return model.model_validate(data)


def field_kinds(model: type[Body]) -> dict[str, str]:
    """Each field's kind: STRING (absent allowed when it has a default), STRINGS or OBJECT."""
    kinds = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if annotation in (str, str | None):
            kinds[name] = STRING
        elif get_origin(annotation) is list and get_args(annotation) == (str,):
            kinds[name] = STRINGS
        elif get_origin(annotation) is dict:
            kinds[name] = OBJECT
        else:
            raise TypeError(f"{model.__name__}.{name}: a body field is a string, a list of strings or an object")
    return kinds


def media_types(model: type[Body]) -> tuple[str, ...]:
    """The content types read_body takes for `model`, as the document lists them."""
    if set(field_kinds(model).values()) == {STRING}:
        return ("application/json", *FORM_TYPES)
    return ("application/json",)


class _OpenApiSchema(GenerateJsonSchema):
    """JSON Schema 2020-12 as the document writes it: an optional field is absent, never null, and has no default;
    no generated titles."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def generate(self, schema: core_schema.CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        generated: JsonSchemaValue = _component_refs(super().generate(schema, mode))
        return generated


def component(name: str) -> WithJsonSchema:
    """A field documented by the document's own schema `name` (pydantic resolves every $ref it sees itself)."""
    return WithJsonSchema({COMPONENT: name})


def _component_refs(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {COMPONENT}:
            return {"$ref": f"#/components/schemas/{node[COMPONENT]}"}
        return {key: _component_refs(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_component_refs(value) for value in node]
    return node


def body_schema(model: type[Body]) -> dict[str, Any]:
    """The OpenAPI schema of `model`; a one_of model is one object per field it takes exactly one of."""
    schema = model.model_json_schema(schema_generator=_OpenApiSchema)
    schema.pop("title", None)
    if not model.one_of:
        return schema
    variants = [
        {
            "type": "object",
            "required": [name],
            "additionalProperties": False,
            "properties": {name: schema["properties"][name]},
        }
        for name in model.one_of
    ]
    return {
        key: value for key, value in schema.items() if key not in ("type", "properties", "additionalProperties")
    } | {"oneOf": variants}


def _field_errors(data: dict[str, Any], model: type[Body], kinds: dict[str, str]) -> list[dict[str, str]]:
    """In the order the readers have always answered: objects, missing strings, unexpected keys, then each
    sent field's type."""
    fields = model.model_fields
    errors = [
        _error(name, "must be a JSON object")
        for name, kind in kinds.items()
        if kind == OBJECT and not isinstance(data.get(name), dict)
    ]
    strings = [name for name, kind in kinds.items() if kind == STRING]
    if model.one_of:
        sent = [name for name in model.one_of if name in data]
        if len(sent) != 1:
            errors.append(_error(model.one_of[0], f"send exactly one of {', '.join(model.one_of)}"))
    else:
        errors += [_error(name, "is required") for name in strings if fields[name].is_required() and name not in data]
    errors += [_error(key, "is not allowed") for key in data if key not in kinds]
    for name, kind in kinds.items():
        value = data.get(name)
        if kind == STRINGS:
            if name not in data:
                errors.append(_error(name, "is required"))
            elif not isinstance(value, list) or not all(
                isinstance(item, str) and _is_encodable(item) for item in value
            ):
                errors.append(_error(name, "must be an array of strings"))
        elif kind == STRING and name in data:
            if not isinstance(value, str):
                errors.append(_error(name, "must be a string"))
            elif not _is_encodable(value):
                errors.append(_error(name, "must be valid Unicode text"))
    return errors


def _error(name: str, detail: str) -> dict[str, str]:
    return {"pointer": f"#/{name}", "detail": detail}


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _is_encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from JSON "\ud800"
        return False
    return True
