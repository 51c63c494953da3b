"""Compare variants of one base config (e.g. two label spaces): train each, evaluate each.

A comparison file has a ``base`` training config and ``variants``, each a partial config
merged over the base; a variant's run directory is ``base.out/<variant>``. An optional
``attacks`` section (``suite``, ``eps``, ``norm``, ``n``) attacks every variant's test split
with that suite and runs the gradient-masking checks. Runs that already
finished with the same config are reused, unfinished ones resume, so a comparison can be
interrupted and restarted at no cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from labelrobust.config import TrainConfig, load_config, upgrade_config
from labelrobust.errors import ConfigError
from labelrobust.metrics.clean import CleanReport, evaluate_run
from labelrobust.evaluation import RobustReport, get_suite, robust_evaluate_run
from labelrobust.runs import RunPaths, read_config
from labelrobust.training import train
from labelrobust.training.run_start import config_differences
from labelrobust.yaml_values import load_yaml

QUICKSTART = "quickstart.yaml"


@dataclass(frozen=True)
class VariantResult:
    variant: str
    config: TrainConfig
    run_dir: Path
    report: CleanReport
    robust: RobustReport | None = None


def read_comparison(path: str | Path | None) -> dict:
    """The comparison spec at ``path``, or the embedded Quick start when ``path`` is None."""
    if path is None:
        text = resources.files("labelrobust.reproduce").joinpath(QUICKSTART).read_text()
        where = f"embedded {QUICKSTART}"
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"comparison file {path} does not exist")
        text, where = path.read_text(), str(path)
    spec = load_yaml(text, where) or {}
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must hold a mapping with 'base' and 'variants', got {type(spec).__name__}")
    unknown = sorted(set(spec) - {"base", "variants", "attacks"})
    if unknown or not isinstance(spec.get("variants"), dict) or not spec["variants"]:
        raise ConfigError(f"{where} must have 'base' (a training config) and 'variants' (a non-empty mapping); unknown keys: {unknown}")
    attacks = spec.get("attacks")
    if attacks is not None:
        bad = sorted(set(attacks) - {"suite", "eps", "norm", "n"}) if isinstance(attacks, dict) else ["(not a mapping)"]
        if bad or "suite" not in attacks or not attacks.get("eps"):
            raise ConfigError(f"{where}: 'attacks' needs 'suite' and 'eps' (optional 'norm', 'n'); unknown: {bad}")
    return spec


def variant_configs(spec: dict, overrides: list[tuple[str, object]] = ()) -> dict[str, TrainConfig]:
    """One validated TrainConfig per variant: base, then the variant, then command-line overrides.
    A variant may be written in either config format (``upgrade_config``: version 1 kept the
    method's settings flat in ``method``, version 2 puts them in ``method.params``)."""
    configs = {}
    for name, variant in spec["variants"].items():
        merged = upgrade_config(_deep_merge(spec.get("base") or {}, variant or {}), f"comparison variant {name!r}")
        merged["name"] = str(name)
        configs[str(name)] = load_config(None, _flatten(merged) + list(overrides))
    return configs


def run_comparison(configs: dict[str, TrainConfig], attacks: dict | None = None, quiet: bool = False) -> list[VariantResult]:
    results = []
    for name, cfg in configs.items():
        paths = RunPaths(Path(cfg.out) / cfg.run_name())
        finished = paths.summary.is_file() and paths.config.is_file() and not config_differences(read_config(paths.root), cfg)
        run_dir = paths.root if finished else train(cfg, resume=paths.checkpoint.is_file(), quiet=quiet)
        robust = None
        if attacks:
            specs = list(get_suite(attacks["suite"]))
            eps = attacks["eps"] if isinstance(attacks["eps"], list) else [attacks["eps"]]
            robust = robust_evaluate_run(run_dir, specs, eps, name=f"compare-{attacks['suite']}", norm=attacks.get("norm", "linf"), n=attacks.get("n"), quiet=quiet)
        results.append(VariantResult(name, cfg, run_dir, evaluate_run(run_dir), robust))
    return results


def _deep_merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    for key, value in data.items():
        # Free-form parameter dicts stay whole: their owners validate their keys.
        if isinstance(value, dict) and key not in ("params", "options", "imbalance"):
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items
