"""The one place configuration is defined, loaded and validated.

Layers, later ones winning: the field defaults below, `conf/searchrel.yaml`
(or the file given with `--config` / `SEARCHREL_CONFIG`), environment variables
`SEARCHREL__SECTION__KEY=value` (plus the shortcut `SEARCHREL_WAREHOUSE`), and
CLI `--set section.key=value` / `--warehouse`. Values from the environment and
`--set` are parsed as YAML scalars, so `false` is a bool and `3` an int, never
the string "False" that argparse or `os.getenv` would hand back.

Every section forbids unknown keys: a typo in a config file is an error that
names the key, not a silently ignored setting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import Field, ValidationError

from searchrel.core.config_models import LabellingConfig, LoraConfig, StudentConfig, TeacherConfig
from searchrel.core.config_sections import (
    BoardTokensConfig,
    CaptionsConfig,
    FeaturesConfig,
    ImportLabelsConfig,
    LinkTextConfig,
    QueryTokensConfig,
    Section,
    SimulationConfig,
    SparkConfig,
    TextConfig,
    ValidationConfig,
)
from searchrel.core.errors import ConfigError

# The sections are defined in config_sections / config_models and imported from here.
__all__ = [
    "REPO_ROOT", "DEFAULT_CONFIG_PATH", "Config", "load_config", "parse_set_options",
    "BoardTokensConfig", "CaptionsConfig", "FeaturesConfig", "ImportLabelsConfig", "LabellingConfig",
    "LinkTextConfig", "LoraConfig", "QueryTokensConfig", "SimulationConfig", "SparkConfig",
    "StudentConfig", "TeacherConfig", "TextConfig", "ValidationConfig",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_PATH = REPO_ROOT / "conf" / "searchrel.yaml"
ENV_PREFIX = "SEARCHREL__"


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as the strings they are written as (ds values are strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


class Config(Section):
    warehouse: str = "warehouse"
    models_dir: str = "models"
    spark: SparkConfig = Field(default_factory=SparkConfig)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    captions: CaptionsConfig = Field(default_factory=CaptionsConfig)
    import_labels: ImportLabelsConfig = Field(default_factory=ImportLabelsConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    labelling: LabellingConfig = Field(default_factory=LabellingConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)

    @property
    def warehouse_path(self) -> str:
        """Absolute warehouse root; URIs (s3a://, abfss://, …) pass through."""
        return _absolute(self.warehouse)

    @property
    def models_path(self) -> str:
        """Models live beside the warehouse unless configured elsewhere."""
        if "://" in self.models_dir or os.path.isabs(self.models_dir):
            return self.models_dir
        return os.path.join(self.warehouse_path, self.models_dir)

    @property
    def reports_path(self) -> str:
        return os.path.join(self.warehouse_path, "reports")


def _absolute(path: str) -> str:
    return path if "://" in path else str(Path(path).expanduser().resolve())


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    keys = dotted.split(".")
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key {dotted!r}: {key!r} is a value, not a section")
        node = child
    node[keys[-1]] = value


def _scalar(text: str) -> Any:
    try:
        return _yaml_load(text)
    except yaml.YAMLError:
        return text


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _format_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "config"
    if err["type"] == "extra_forbidden":
        return f"unknown config key {where!r}"
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    more = f" [and {len(exc.errors()) - 1} more]" if len(exc.errors()) > 1 else ""
    return f"bad config value for {where!r}: {err['msg']}{shown}{more}"


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective configuration, raising ConfigError with one line on any problem.

    `overrides` maps dotted keys (`teacher.epochs`) to values, as `--set` gives them.
    """
    env = os.environ if environ is None else environ
    chosen = path or env.get("SEARCHREL_CONFIG")
    file = Path(chosen) if chosen else DEFAULT_CONFIG_PATH
    tree: dict[str, Any] = {}
    if chosen or file.exists():
        if not file.exists():
            raise ConfigError(f"config file not found: {file}")
        try:
            loaded = _yaml_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {file} is not valid YAML: {str(exc).splitlines()[0]}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {file} must hold a mapping at the top level")
        tree = loaded or {}
    if "SEARCHREL_WAREHOUSE" in env:
        tree = _merge(tree, {"warehouse": env["SEARCHREL_WAREHOUSE"]})
    for name, raw in sorted(env.items()):
        if name.startswith(ENV_PREFIX):
            dotted = name[len(ENV_PREFIX):].lower().replace("__", ".")
            _set_dotted(tree, dotted, _scalar(raw))
    for dotted, value in (overrides or {}).items():
        _set_dotted(tree, dotted, value)
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None


def parse_set_options(items: list[str] | None) -> dict[str, Any]:
    """`--set a.b=3` pairs to a dotted-key mapping with YAML-typed values."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        out[key.strip()] = _scalar(value)
    return out
