"""Config layering: default config -> recipe -> your files -> command-line overrides, with REPLACE.

Snakemake (and `deep_merge`) merge a later config into an earlier one key by key: a list is replaced
whole, but a mapping is merged, so a key of the default (an arm, an objective, an encoder) can never be
deleted from your own file. Here a mapping that holds `_replace: true` REPLACES the mapping of the layers
below it instead of merging into it:

```yaml
tmmnet:
  arms:
    _replace: true            # these are the only arms; the default ones are gone
    baseline: {modalities: [first]}
    guided: {modalities: [first], stage1: true}
```

The marker works at any depth and in any layer (a recipe too); it is removed before validation. A
mapping with `_replace: false` (or without the key) merges as before.

Recipes: the top-level key `recipe` (`auto` by default) names `config/recipes/<name>.yaml`, a delta applied
right above the default config and below your own files, so your explicit settings always win. `auto`
means `embedded` for the synthetic source (the default config already is the embedded recipe: no file
needed) and `real_data` for every other source. The resolved name is written back into `recipe`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmdiag.config.sections import DatasetConfig
from mmdiag.errors import ConfigError

REPLACE = "_replace"
RECIPE_KEY = "recipe"
AUTO = "auto"
EMBEDDED = "embedded"
REAL_DATA = "real_data"
RECIPES_DIR = "recipes"  # beside the default config file: config/recipes/


def layer(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` layered onto a copy of `base`: mappings merge key by key unless the overriding mapping
    says `_replace: true` (then it replaces); every other value replaces. Markers are kept (see `strip`)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and not value.get(REPLACE) and isinstance(out.get(key), Mapping):
            out[key] = layer(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def strip(config: Any) -> Any:
    """A copy of `config` without `_replace` markers (at any depth)."""
    if isinstance(config, Mapping):
        return {k: strip(v) for k, v in config.items() if k != REPLACE}
    if isinstance(config, list):
        return [strip(v) for v in config]
    return config


def layer_all(layers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every layer onto the previous ones, markers removed."""
    out: dict[str, Any] = {}
    for data in layers:
        out = layer(out, data)
    return strip(out)


def recipe_name(config: Mapping[str, Any]) -> str:
    """The recipe a (merged) config asks for: `recipe`, with `auto` resolved by the dataset source."""
    name = str(config.get(RECIPE_KEY) or AUTO)
    if name != AUTO:
        return name
    source = (config.get("dataset") or {}).get("source", DatasetConfig.source)  # not validated yet: its default
    return EMBEDDED if source == "synthetic" else REAL_DATA


def recipe_layer(name: str, recipes_dir: Path | None, explicit: bool = True) -> dict[str, Any]:
    """The delta of recipe `name`: its file, or nothing for `embedded` and for an `auto` choice without a
    file (a config folder that has no recipes).

    Raises:
        ConfigError: a recipe named explicitly has no file (naming the recipes there).
    """
    from mmdiag.config.files import read_yaml

    path = recipes_dir / f"{name}.yaml" if recipes_dir is not None else None
    if path is not None and path.is_file():
        data = read_yaml(path)
        if RECIPE_KEY in data:
            raise ConfigError(f"{path}: a recipe cannot choose a recipe ('{RECIPE_KEY}' key)")
        return data
    if name == EMBEDDED or not explicit:
        return {}
    known = (
        sorted(p.stem for p in recipes_dir.glob("*.yaml")) if recipes_dir is not None and recipes_dir.is_dir() else []
    )
    where = str(path) if path is not None else f"{RECIPES_DIR}/{name}.yaml"
    raise ConfigError(
        f"recipe: '{name}' has no file {where} (recipes: {', '.join([EMBEDDED, *known])}; or recipe: {AUTO})"
    )


def layered_config(
    default: Mapping[str, Any],
    user: Sequence[Mapping[str, Any]] = (),
    overrides: Mapping[str, Any] | None = None,
    recipes_dir: Path | None = None,
) -> dict[str, Any]:
    """default -> recipe -> user files -> overrides, `_replace` honoured, the recipe name resolved."""
    above = [*user, *([overrides] if overrides else [])]
    merged = layer_all([default, *above])
    name = recipe_name(merged)
    explicit = str(merged.get(RECIPE_KEY) or AUTO) != AUTO
    out = layer_all([default, recipe_layer(name, recipes_dir, explicit), *above])
    out[RECIPE_KEY] = name
    return out


def load_layered(
    paths: Sequence[str | Path], overrides: Mapping[str, Any] | None = None, recipes: bool = True
) -> dict[str, Any]:
    """Config files layered left to right, the first being the default (its `recipes/` folder holds the
    recipes); with `recipes=False` no recipe layer is applied (the files already are the whole config)."""
    from mmdiag.config.files import read_yaml

    if not paths:
        raise ConfigError("no config file given")
    files = [read_yaml(p) for p in paths]
    if not recipes:
        return layer_all([*files, *([overrides] if overrides else [])])
    return layered_config(files[0], files[1:], overrides, Path(paths[0]).parent / RECIPES_DIR)


def snakemake_layers(workflow: Any) -> tuple[list[str], dict[str, Any]]:
    """(config files in layering order, --config overrides) of a running Snakemake workflow.

    `workflow.configfiles` holds the command line's `--configfile` paths followed by the Snakefile's
    `configfile:` (the default), `workflow.config_settings.configfiles` only the command line's ones, and
    `workflow.config_settings.config` the `--config KEY=VALUE` overrides (Snakemake 9).
    """
    cli = [Path(p) for p in workflow.config_settings.configfiles]
    cli_abs = {p.absolute() for p in cli}
    defaults = [str(p) for p in workflow.configfiles if Path(p).absolute() not in cli_abs]
    overrides = {k: copy.deepcopy(v) for k, v in dict(workflow.config_settings.config).items()}
    return list(dict.fromkeys([*defaults, *map(str, cli)])), overrides
