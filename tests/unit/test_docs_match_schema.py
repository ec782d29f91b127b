"""The settings' schema holds each default and description; the README's table is written from it and config.yaml is
checked against it, so neither can drift."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from authsvc.config import SETTINGS_TABLE_HEAD, Settings, load_settings, setting_rows, settings_table
from tests.helpers import ROOT

ROW = re.compile(r"^\| (`[^|]+`) \| ([^|]*) \| [^|]* \|$")


def schema_keys(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        written_name = field.alias or name  # mail.from: a Python keyword, so an alias in the schema
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= schema_keys(annotation, f"{prefix}{written_name}.")
        else:
            keys.add(prefix + written_name)
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
            for key, value in values.items():
                if isinstance(value, dict):  # a nested section, e.g. mail.smtp
                    flat |= {f"{section}.{key}.{inner}": written(item) for inner, item in value.items()}
                else:
                    flat[f"{section}.{key}"] = written(value)
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


def readme_table_lines() -> list[str]:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index(SETTINGS_TABLE_HEAD.splitlines()[0])
    end = next((index for index in range(start, len(lines)) if not lines[index].startswith("|")), len(lines))
    return lines[start:end]


def test_readme_configuration_table_is_written_from_the_schema() -> None:
    # After a setting, its default or its description changed in authsvc/config.py: `make settings-table`.
    assert readme_table_lines() == settings_table().splitlines()


def test_config_yaml_writes_the_schema_defaults() -> None:
    defaults = config_yaml_defaults()
    rows = list(setting_rows())
    assert {key: defaults.get(key) for key, _, _ in rows} == {key: default for key, default, _ in rows}


def test_every_setting_has_its_default_and_description_in_the_schema(model: type[BaseModel] = Settings) -> None:
    for name, field in model.model_fields.items():
        assert not field.is_required() and field.description, f"{model.__name__}.{name}"
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            test_every_setting_has_its_default_and_description_in_the_schema(field.annotation)


def test_the_schema_defaults_are_the_development_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (row[1].removeprefix("${").partition(":")[0] for row in setting_rows() if row[1].startswith("${")):
        monkeypatch.delenv(key, raising=False)
    assert Settings() == load_settings(environ={})
