"""The LangServe and FastAPI side of what a client may send: the `config` of a /mentor/* request and the body
checks LangServe lacks. The question, conversation id and module types themselves are core/inputs.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Annotated, Any, get_type_hints

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from langserve.api_handler import _config_from_hash  # LangServe's own decoding of a /c/{config_hash}/
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from core.inputs import MODULE_NAME_PATTERN, ConversationId
from graph.configuration import Configuration


def json_integer(value: Any) -> Any:
    """A JSON integer (3 or 3.0), else an `int_type` error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# JSON's integers as the schema means them: 3 or 3.0, never true or "3" (which lax pydantic would take).
JsonInt = Annotated[int, BeforeValidator(json_integer)]


class ConfigurableInput(BaseModel):
    """The `config.configurable` values of a LangServe request that become a search filter or a storage key.

    LangServe's own config model keeps only their plain types (its renaming of the model drops constraints),
    so `check_configurable` runs as its per-request config hook, where a ValidationError becomes a 422."""

    model_config = ConfigDict(extra="allow")  # the rest are typed by the runnable's config_specs

    module: Annotated[str, Field(pattern=f"^$|{MODULE_NAME_PATTERN}", max_length=100)] | None = None  # "": all
    conversation_id: ConversationId | None = None


def check_configurable(config: dict[str, Any], request: Any) -> dict[str, Any]:
    """Every knob as the graph will read it (graph/configuration.py), checked before the run starts."""
    ConfigurableInput.model_validate(config.get("configurable") or {})
    try:
        Configuration.from_runnable_config(config)  # type: ignore[arg-type]
    except ValueError as exc:
        raise RequestValidationError(
            [{"loc": ["body", "config", "configurable"], "msg": str(exc), "type": "value_error"}]
        ) from None
    return config


def _json_type(annotation: Any) -> tuple[str, Callable[[Any], bool]]:
    """The JSON type the schema gives a knob of this Python type, and a test of a parsed JSON value for it."""
    if annotation is bool:
        return "boolean", lambda v: isinstance(v, bool)
    if annotation is int:
        return "integer", lambda v: type(v) is int or (type(v) is float and v.is_integer())
    if annotation is float:
        return "number", lambda v: type(v) in (int, float)
    return "string", lambda v: isinstance(v, str)  # str, and the Literal choices


_HINTS = get_type_hints(Configuration)
KNOB_TYPES = {f.name: _json_type(_HINTS[f.name]) for f in fields(Configuration)} | {"conversation_id": _json_type(str)}


def configurable_type_errors(configurable: dict[str, Any], loc: list[Any]) -> list[dict[str, Any]]:
    """Knobs whose JSON value is not of the schema's type: LangServe's config model would coerce "5" to 5 or
    "yes" to true, so the raw body is checked before it does."""
    errors = []
    for name, value in configurable.items():
        if name in KNOB_TYPES:
            kind, fits = KNOB_TYPES[name]
            if not fits(value):
                errors.append({"loc": [*loc, name], "msg": f"{name} must be a JSON {kind}", "type": f"{kind}_type"})
    return errors


async def check_langserve_body(request: Request) -> None:
    """LangServe fails with a TypeError (a 500) on a `config` that is not an object (a list of them for
    /batch) or /batch `inputs` that are not a list; this dependency of its routes answers 422 first, and for
    `kwargs` that are not an object (LangServe ignores them, the schema says object). A config hash that decodes
    to no config is a 404: it names nothing (LangServe answers an undocumented 400).
    Invalid JSON is left to LangServe's own 422."""
    config_hash = request.path_params.get("config_hash") or request.query_params.get("config_hash")
    if config_hash:  # in the path (/c/{config_hash}/) or, as LangServe also takes it, the query
        try:
            _config_from_hash(config_hash)
        except HTTPException:
            raise HTTPException(404, "No config has this config hash.") from None
    if request.method != "POST":
        return
    try:
        body = await request.json()  # cached on the request: LangServe reads the same parsed body
    except ValueError:
        return
    if not isinstance(body, dict):
        return
    batch = request.url.path.endswith("/batch")
    errors = []
    if "config" in body and not isinstance(body["config"], (dict, list) if batch else dict):
        errors.append({"loc": ["body", "config"], "msg": "config must be an object", "type": "dict_type"})
    configs = body.get("config")
    for n, config in enumerate(configs if isinstance(configs, list) else [configs]):
        if isinstance(config, dict) and isinstance(config.get("configurable"), dict):
            loc = ["body", "config", *([n] if isinstance(configs, list) else []), "configurable"]
            errors += configurable_type_errors(config["configurable"], loc)
    if "kwargs" in body and not isinstance(body["kwargs"], dict):
        errors.append({"loc": ["body", "kwargs"], "msg": "kwargs must be an object", "type": "dict_type"})
    if batch and not isinstance(body.get("inputs"), list):
        errors.append({"loc": ["body", "inputs"], "msg": "inputs must be a list", "type": "list_type"})
    if errors:
        raise RequestValidationError(errors)
