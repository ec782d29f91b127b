"""The README's configuration table is checked against the settings schema and config.yaml, so neither can drift."""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel

from authsvc.config import Settings
from tests.helpers import ROOT

ROW = re.compile(r"^\| (`[^|]+`) \| ([^|]*) \| [^|]* \|$")


def schema_keys(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and model is Settings:
            keys |= schema_keys(annotation, f"{name}.")
        else:
            keys.add(prefix + name)
    return keys


def readme_rows() -> dict[str, str]:
    """key -> default as written, with `a.x`, `y` shorthand (same section) expanded."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in table.splitlines():
        match = ROW.match(line)
        if not match or match.group(1) == "`key`":
            continue
        names = [name.strip().strip("`") for name in match.group(1).split(",")]
        section = names[0].rpartition(".")[0]
        defaults = [d.strip().strip("`") for d in match.group(2).split(",")] if len(names) > 1 else [match.group(2)]
        for name, default in zip(names, defaults, strict=True):
            key = name if "." in name or not section else f"{section}.{name}"
            rows[key] = default.strip().strip("`")
    return rows


def written(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


def config_yaml_defaults() -> dict[str, str]:
    raw = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    flat: dict[str, str] = {}
    for section, values in raw.items():
        if isinstance(values, dict):
            flat |= {f"{section}.{key}": written(value) for key, value in values.items()}
        else:
            flat[section] = written(values)
    return flat


def test_readme_configuration_table_names_every_setting_once() -> None:
    assert set(readme_rows()) == schema_keys()


def test_config_yaml_sets_every_setting_of_the_schema() -> None:
    assert set(config_yaml_defaults()) == schema_keys()


def test_readme_defaults_are_config_yaml_defaults() -> None:
    defaults = config_yaml_defaults()
    assert {key: value for key, value in readme_rows().items()} == {key: defaults[key] for key in readme_rows()}
