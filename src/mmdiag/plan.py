"""What runs on this dataset: studies, arms, table rows, splits — decided from config + dataset facts.

The default config names modalities by role (`first`, `second`: the dataset's modalities in the order
`dataset.yaml` declares them) so the embedded run keeps its paper tables while another dataset gets the
rows that make sense for it. `make_plan(config, facts)` resolves every role, checks every arm and study
against what the dataset has, and returns a `Plan`:

- what runs: TMM-Net arms (roles resolved, duplicates removed), Tables 1-2 backbones x arms, seeds, CV
  centres, the single-/multi-centre split centres, the fusion study's inputs, distillation and
  dual-branch modalities, the studies left;
- `left_out`: one `LeftOut(what, reason)` per thing that cannot run on the data (no second modality: no
  fusion, cross-attention or dual-branch arms; no reports: no text guidance; no attributes: no stage 2;
  one centre: no multi-centre evaluation; ...), never an error at run time and never two identical rows;
- `resolved_config(config)`: the config with those decisions written in (concrete modality names and
  centres, only the arms and studies that run), which is what every job receives.

A literal modality or centre name the dataset does not have is a `ConfigError` (a typo must not silently
remove rows); a role the dataset cannot fill is a reason to leave the item out.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmdiag.data.facts import DatasetFacts
from mmdiag.errors import ConfigError

ROLES = ("first", "second")
AUTO = "auto"
# table-name prefix of each study (mmdiag.reporting.catalog.STUDIES); its overview is `<prefix>_overview`
STUDY_PREFIX = {"tmmnet": "tmmnet", "fusion_study": "fusion", "distillation": "distill", "dualbranch": "dualbranch"}
T1, T2, T3, T3_TESTS, T4 = (
    "tmmnet_t1_comparison",
    "tmmnet_t2_text_guidance",
    "tmmnet_t3_ablation",
    "tmmnet_t3_ablation_tests",
    "tmmnet_t4_cv",
)
FUSION_TABLES = {
    "strategies": "fusion_t3_strategies",
    "hparams": "fusion_t1_hparams",
    "heads_objectives": "fusion_t4_heads_objectives",
}
ARM_SWITCHES = ("stage1", "stage2", "attention", "attributes")


@dataclass(frozen=True)
class LeftOut:
    """Something the config asks for that cannot run on this dataset, and why.

    `study`: the study it belongs to (None: the whole run, e.g. a data policy); `tables`: the tables whose
    caption should name it (empty: only the study's overview page).
    """

    what: str
    reason: str
    study: str | None = None
    tables: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        return f"{self.what}: {self.reason}"


class Unresolved(Exception):
    """A role the dataset cannot fill (the item is left out, with this message as the reason)."""


# ------------------------------------------------------------------------------------------ roles
def resolve_modality(name: str, modalities: Sequence[str] | None, where: str) -> str:
    """A role (`first`, `second`) or a literal modality name -> the dataset's modality name (`modalities`
    None: the dataset is not known yet, names stay as written).

    Raises:
        Unresolved: the role has no modality on this dataset.
        ConfigError: a literal name the dataset does not have.
    """
    if modalities is None:
        return name
    if name in ROLES:
        i = ROLES.index(name)
        if i >= len(modalities):
            have = ", ".join(modalities) or "none"
            n = len(modalities)
            raise Unresolved(f"needs the {name} modality; the dataset has {n} ({have})")
        return modalities[i]
    if name not in modalities:
        raise ConfigError(
            f"{where}: modality '{name}' is not in the dataset (modalities: {', '.join(modalities)}; "
            f"or use the roles {', '.join(ROLES)})"
        )
    return name


def resolve_modalities(names: Iterable[str], modalities: Sequence[str] | None, where: str) -> list[str]:
    """Every name of a list resolved (see `resolve_modality`); a modality named twice is a ConfigError."""
    out = [resolve_modality(str(n), modalities, where) for n in names]
    if len(set(out)) != len(out):
        raise ConfigError(f"{where}: {list(names)} names one modality twice ({out})")
    return out


def resolve_available(
    names: Iterable[str], modalities: Sequence[str] | None, where: str
) -> tuple[list[str], list[str]]:
    """(resolved names, reasons for the roles dropped): for studies that run on whichever modalities exist."""
    kept, dropped = [], []
    for n in names:
        try:
            kept.append(resolve_modality(str(n), modalities, where))
        except Unresolved as exc:
            dropped.append(f"{n}: {exc}")
    if len(set(kept)) != len(kept):
        raise ConfigError(f"{where}: {list(names)} names one modality twice ({kept})")
    return kept, dropped


def resolve_text(
    text: str | None, modalities: Sequence[str] | None, facts: DatasetFacts
) -> tuple[str | None, str | None]:
    """A report column with roles (`report.second`) -> (the column to use, why it differs from the asked one)."""
    if text is None or not facts.known:
        return text, None
    if not facts.has_reports:
        return None, "the dataset has no reports (no reports.csv): image inputs only"
    if text == "report":
        return text, None
    if not text.startswith("report."):
        raise ConfigError(f"fusion_study.text: '{text}' is not a report column (report or report.<section>)")
    section = text.removeprefix("report.")
    if section in ROLES:
        try:
            section = resolve_modality(section, modalities, "fusion_study.text")
        except Unresolved as exc:
            return "report", f"{exc}; the whole report is used"
    if section not in facts.report_sections:
        return "report", f"reports.csv has no report.{section} column: the whole report is used"
    return f"report.{section}", None


def canonical_arm(spec: Mapping[str, Any]) -> dict[str, Any]:
    """An arm spec with every switch present (`stage2` implies `attributes`)."""
    out = {"modalities": list(spec["modalities"]), **{k: bool(spec.get(k, False)) for k in ARM_SWITCHES}}
    out["attributes"] = out["attributes"] or out["stage2"]
    return {**dict(spec), **out}


def arm_problem(spec: Mapping[str, Any], facts: DatasetFacts) -> str | None:
    """Why a resolved arm cannot run on this dataset (None: it can, or the dataset is not known yet)."""
    if not facts.known:
        return None
    mods = list(spec["modalities"])
    if spec.get("attention") and len(mods) < 2:
        return "cross-modal attention needs two modalities"
    if (spec.get("stage1") or spec.get("stage2")) and not facts.has_reports:
        return "text guidance (stages 1-2) needs reports; the dataset has none (no reports.csv)"
    if (spec.get("stage2") or spec.get("attributes")) and not facts.has_attributes(mods):
        return f"attribute prototypes need attribute annotations; dataset.yaml declares none for {', '.join(mods)}"
    return None


def setup_text(spec: Mapping[str, Any]) -> str:
    """Short description of a resolved arm, for 'same run as' reasons."""
    parts = ["+".join(spec["modalities"])] + [k for k in ARM_SWITCHES if spec.get(k)]
    return ", ".join(parts)


def _arm_key(spec: Mapping[str, Any]) -> tuple:
    return (frozenset(spec["modalities"]), *(bool(spec.get(k)) for k in ARM_SWITCHES))


def is_full_model(spec: Mapping[str, Any]) -> bool:
    """TMM-Net proper: both guidance stages and cross-modal attention (as `reporting.tmm_tables`)."""
    return bool(spec.get("stage2") and spec.get("attention"))


def is_plain_fusion(spec: Mapping[str, Any]) -> bool:
    return len(spec["modalities"]) > 1 and not any(spec.get(k) for k in ARM_SWITCHES)


# ------------------------------------------------------------------------------------------ the plan
@dataclass
class Plan:
    """Everything the DAG needs to know before any job runs (see the module docstring)."""

    facts: DatasetFacts
    studies: list[str]
    arms: dict[str, dict[str, Any]]  # TMM-Net arm -> resolved spec, in config order, only those that run
    seeds: list[int]
    encoder: str
    comparison: dict[str, list[str]]  # backbones, arms (Table 1)
    text_guidance: dict[str, list[str]]  # backbones, arms (Table 2)
    cv_arm: str | None
    cv_centres: list[str]
    cv_folds: int
    single_centre: str | None
    multi_centre: str | None
    fusion: dict[str, Any] | None  # image_modalities, text, studies (tables that run)
    distillation: list[str] | None
    dualbranch: list[str] | None
    left_out: list[LeftOut] = field(default_factory=list)
    objectives: dict[str, Any] | None = None  # fusion_study.objectives that can run

    @property
    def first_seed(self) -> int:
        return self.seeds[0]

    def arm(self, test: Any) -> str | None:
        """The first scheduled arm whose spec passes `test`."""
        return next((a for a, s in self.arms.items() if test(s)), None)

    @property
    def full_arm(self) -> str | None:
        return self.arm(is_full_model)

    @property
    def guided_fusion_arm(self) -> str | None:
        """Table 2's reference row with the TMM-Net encoder: both guidance stages, direct fusion."""
        return self.arm(lambda s: s.get("stage2") and not s.get("attention") and len(s["modalities"]) > 1)

    def pretrain_modalities(self, arms: Iterable[str]) -> list[str]:
        return list(dict.fromkeys(m for a in arms if self.arms[a].get("stage1") for m in self.arms[a]["modalities"]))

    def lines(self) -> list[str]:
        return [item.line for item in self.left_out]

    def left_out_for_table(self, table: str) -> list[str]:
        """Left-out items a table's caption names."""
        return [item.line for item in self.left_out if table in item.tables]

    def left_out_for_overview(self, overview: str) -> list[str]:
        """Left-out items of the study of `<prefix>_overview`, then those of the whole run and of studies
        left out entirely (they have no page of their own)."""
        prefix = overview.removesuffix("_overview")
        own = [i.line for i in self.left_out if i.study and STUDY_PREFIX.get(i.study) == prefix]
        others = [i.line for i in self.left_out if i.study is None or (i.study not in self.studies)]
        return list(dict.fromkeys(own + others))

    def resolved_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """`config` with the plan written in: what every job of the DAG receives."""
        out = copy.deepcopy(dict(config))
        out["studies"] = list(self.studies)
        tm = out.setdefault("tmmnet", {})
        tm["arms"] = copy.deepcopy(self.arms)
        tm["seeds"] = list(self.seeds)
        tm["comparison"] = {**tm["comparison"], **copy.deepcopy(self.comparison)}
        tm["text_guidance"] = {**tm["text_guidance"], **copy.deepcopy(self.text_guidance)}
        tm.setdefault("cv", {})["arm"] = self.cv_arm
        sp = out.setdefault("splits", {})
        sp["single_centre"] = {**(sp.get("single_centre") or {}), "centre": self.single_centre}
        sp["multi_centre"] = {**(sp.get("multi_centre") or {}), "target": self.multi_centre}
        sp["cv"] = {**(sp.get("cv") or {}), "centres": list(self.cv_centres)}
        if self.fusion is not None:
            fs = out.setdefault("fusion_study", {})
            fs["image_modalities"] = list(self.fusion["image_modalities"])
            fs["text"] = self.fusion["text"]
            if self.objectives is not None:
                fs["objectives"] = copy.deepcopy(self.objectives)
        if self.distillation is not None:
            out.setdefault("distillation", {})["modalities"] = list(self.distillation)
        if self.dualbranch is not None:
            out.setdefault("dualbranch", {})["modalities"] = list(self.dualbranch)
        return out


class _Planner:
    def __init__(self, config: Mapping[str, Any], facts: DatasetFacts) -> None:
        self.config = config
        self.facts = facts
        self.mods: list[str] | None = facts.modality_names if facts.known else None
        self.left_out: list[LeftOut] = []
        self.wanted = list(config.get("studies") or [])

    def leave_out(self, what: str, reason: str, study: str | None = None, tables: Sequence[str] = ()) -> None:
        self.left_out.append(LeftOut(what, reason, study, tuple(tables)))

    # -- splits ---------------------------------------------------------------------------------------
    def splits(self) -> tuple[str | None, str | None, list[str], int]:
        sp = self.config.get("splits") or {}
        centres = list(self.facts.centres)

        def known(name: str, key: str) -> str:
            if centres and name not in centres:
                raise ConfigError(f"{key}: centre '{name}' is not in the dataset (centres: {', '.join(centres)})")
            return name

        single = (sp.get("single_centre") or {}).get("centre")
        if single is None and centres:
            single = centres[0]
        elif single not in (None, "*"):
            single = known(str(single), "splits.single_centre.centre")
        target = (sp.get("multi_centre") or {}).get("target")
        multi_tables = (T3,) if "tmmnet" in self.wanted else ()
        if target == AUTO:
            others = [c for c in centres if c != single] if single != "*" else []
            target = others[0] if others else None
            if target is None and self.facts.known:
                why = (
                    f"the dataset has one centre ({', '.join(centres)})"
                    if len(centres) <= 1
                    else "the single-centre split uses every centre ('*')"
                )
                self.leave_out("multi-centre evaluation", why, "tmmnet" if multi_tables else None, multi_tables)
        elif target is not None:
            target = known(str(target), "splits.multi_centre.target")
            if target == single:
                raise ConfigError(f"splits.multi_centre.target: '{target}' is also the single-centre centre")
        cv = sp.get("cv") or {}
        folds = int(cv["folds"])
        wanted = cv["centres"]
        cv_centres = list(centres) if wanted == AUTO else [known(str(c), "splits.cv.centres") for c in wanted or []]
        kept = []
        for c in cv_centres:
            n = self.facts.cases_per_centre.get(c)
            if n is not None and n < 2 * folds:
                self.leave_out(
                    f"cross-validation of centre {c}",
                    f"{n} cases, too few for {folds} folds (splits.cv.folds)",
                    "tmmnet",
                    (T4,),
                )
            else:
                kept.append(c)
        return single, target, kept, folds

    # -- TMM-Net --------------------------------------------------------------------------------------
    def arms(self) -> dict[str, dict[str, Any]]:
        tm = self.config.get("tmmnet") or {}
        arms: dict[str, dict[str, Any]] = {}
        seen: dict[tuple, str] = {}
        for name, raw in (tm.get("arms") or {}).items():
            tables = self.arm_tables(name)
            try:
                mods = resolve_modalities(raw["modalities"], self.mods, f"tmmnet.arms.{name}.modalities")
            except Unresolved as exc:
                self.leave_out(f"arm {name}", str(exc), "tmmnet", tables)
                continue
            spec = {**raw, "modalities": mods}  # the user's switches as written, roles resolved
            problem = arm_problem(canonical_arm(spec), self.facts)
            if problem:
                self.leave_out(f"arm {name}", problem, "tmmnet", tables)
                continue
            key = _arm_key(canonical_arm(spec))
            if key in seen:
                self.leave_out(
                    f"arm {name}", f"same run as arm {seen[key]} on this dataset ({setup_text(spec)})", "tmmnet", tables
                )
                continue
            seen[key] = name
            arms[name] = spec
        return arms

    def arm_tables(self, arm: str) -> list[str]:
        tm = self.config.get("tmmnet") or {}
        tables = [T3]
        if arm in ((tm.get("comparison") or {}).get("arms") or []):
            tables.append(T1)
        if arm in ((tm.get("text_guidance") or {}).get("arms") or []):
            tables.append(T2)
        return tables

    def table_arms(self, key: str, table: str, arms: Mapping[str, Any]) -> dict[str, list[str]]:
        """Backbones and the arms of Table 1 (`comparison`) or 2 (`text_guidance`) that run."""
        section = (self.config.get("tmmnet") or {}).get(key) or {}
        known = (self.config.get("tmmnet") or {}).get("arms") or {}
        for a in section.get("arms") or []:
            if a not in known:
                self.leave_out(f"{table} row {a}", f"tmmnet.{key}.arms names no arm of tmmnet.arms", "tmmnet", (table,))
        return {
            "backbones": list(section.get("backbones") or []),
            "arms": [a for a in section.get("arms") or [] if a in arms],
        }

    def cv_arm(self, arms: Mapping[str, Any], centres: list[str]) -> str | None:
        wanted = ((self.config.get("tmmnet") or {}).get("cv") or {}).get("arm")
        if not centres or not arms:
            return wanted if wanted in arms else None
        if wanted in arms:
            return wanted
        fallback = list(arms)[-1]  # the paper's order grows in complexity: the most complete arm that runs
        self.leave_out(
            f"cross-validation of arm {wanted}",
            f"arm {wanted} does not run on this dataset; Table 4 cross-validates arm {fallback} instead",
            "tmmnet",
            (T4,),
        )
        return fallback

    # -- other studies --------------------------------------------------------------------------------
    def fusion(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        fs = self.config.get("fusion_study") or {}
        if "fusion_study" not in self.wanted:
            return None, None
        images, dropped = resolve_available(
            fs.get("image_modalities") or [], self.mods, "fusion_study.image_modalities"
        )
        for d in dropped:
            self.leave_out(f"fusion study image input {d.split(':')[0]}", d.split(": ", 1)[1], "fusion_study")
        text, why = resolve_text(fs.get("text"), self.mods, self.facts)
        if why:
            self.leave_out(
                f"fusion study text input {fs.get('text')}", why, "fusion_study", tuple(FUSION_TABLES.values())
            )
        if not images:
            self.leave_out("study fusion_study", "no image input can run on this dataset", "fusion_study")
            return None, None
        configured = {  # a sub-study the config gives no rows is not run (the user's choice, nothing left out)
            "strategies": bool(fs.get("strategies")),
            "hparams": bool(fs.get("hparams")),
            "heads_objectives": bool(fs.get("heads") or fs.get("objectives") or fs.get("tta")),
        }
        studies = [s for s in FUSION_TABLES if configured[s]]
        if "strategies" in studies and self.facts.known and len(images) + (text is not None) < 2:
            self.leave_out(
                FUSION_TABLES["strategies"],
                "fusion strategies need two inputs; this dataset gives one image modality and no report",
                "fusion_study",
            )
            studies.remove("strategies")
        objectives = dict(fs.get("objectives") or {})
        if text is None:
            for name, obj in list(objectives.items()):
                if (obj or {}).get("loss") == "modality_disagreement":
                    self.leave_out(
                        f"objective {name}",
                        "the modality-disagreement loss compares image and text predictions; there is no text",
                        "fusion_study",
                        (FUSION_TABLES["heads_objectives"],),
                    )
                    del objectives[name]
        return {"image_modalities": images, "text": text, "studies": studies}, objectives

    def distillation(self) -> list[str] | None:
        if "distillation" not in self.wanted:
            return None
        ds = self.config.get("distillation") or {}
        mods, dropped = resolve_available(ds.get("modalities") or [], self.mods, "distillation.modalities")
        for d in dropped:
            self.leave_out(f"distillation input {d.split(':')[0]}", d.split(": ", 1)[1], "distillation")
        if not mods:
            self.leave_out("study distillation", "no image input can run on this dataset", "distillation")
            return None
        return mods

    def dualbranch(self) -> list[str] | None:
        if "dualbranch" not in self.wanted:
            return None
        db = self.config.get("dualbranch") or {}
        try:
            return resolve_modalities(db.get("modalities") or ROLES, self.mods, "dualbranch.modalities")
        except Unresolved as exc:
            self.leave_out("study dualbranch", f"the dual-branch model {exc}", "dualbranch")
            return None

    def missing_modalities(self) -> None:
        if self.facts.complete is not False:
            return
        total = sum(self.facts.coverage.values())
        partial = sum(n for k, n in self.facts.coverage.items() if len(k) < len(self.facts.modalities))
        policy = self.config["data"]["missing_modality"]
        if policy == "drop":
            self.leave_out(
                "cases lacking a modality",
                f"{partial} of {total} cases lack a modality; data.missing_modality: drop leaves them out of every "
                "run on several modalities (token keeps them)",
            )
        for study, model in (("distillation", "the distillation student"), ("dualbranch", "the dual-branch model")):
            if study in self.wanted and policy != "drop":
                self.leave_out(
                    f"{study} on cases lacking a modality",
                    f"{model} has no missing-modality token: the study drops the {partial} incomplete cases",
                    study,
                )

    def figures(self, arms: Mapping[str, Any]) -> None:
        if "tmmnet" not in self.wanted or not arms:
            return
        full = any(is_full_model(s) for s in arms.values())
        plain = any(is_plain_fusion(s) for s in arms.values())
        if not full:
            for fig in ("tmmnet_fig6_tsne", "tmmnet_fig5_attribute_cam", "tmmnet_fig7_guidance_cam"):
                self.leave_out(
                    fig, "needs the full TMM-Net arm (stages 1, 2 + attention), which does not run", "tmmnet"
                )
            self.leave_out(T3_TESTS, "no full TMM-Net arm to test the ablation arms against", "tmmnet")
        elif not plain:
            self.leave_out("tmmnet_fig7_guidance_cam", "needs a plain-fusion arm (before guidance)", "tmmnet")

    def plan(self) -> Plan:
        tm = self.config.get("tmmnet") or {}
        if not self.facts.known:
            self.leave_out(
                "checks against the data",
                f"{self.facts.unknown_reason}: every configured study is planned as written (roles unresolved); "
                "the download job stops until the dataset is there",
            )
        single, target, cv_centres, folds = self.splits()
        arms = self.arms() if "tmmnet" in self.wanted else {}
        comparison = self.table_arms("comparison", T1, arms)
        guidance = self.table_arms("text_guidance", T2, arms)
        if "tmmnet" in self.wanted and arms and not guidance["arms"] and (tm.get("text_guidance") or {}).get("arms"):
            self.leave_out(T2, "none of its arms runs on this dataset", "tmmnet")
        cv_arm = self.cv_arm(arms, cv_centres) if "tmmnet" in self.wanted else None
        self.figures(arms)
        if "tmmnet" in self.wanted and not arms:
            self.leave_out("study tmmnet", "none of tmmnet.arms can run on this dataset", "tmmnet")
        fusion, objectives = self.fusion()
        distillation = self.distillation()
        dualbranch = self.dualbranch()
        self.missing_modalities()
        runnable = {
            "tmmnet": bool(arms),
            "fusion_study": fusion is not None,
            "distillation": distillation is not None,
            "dualbranch": dualbranch is not None,
        }
        seeds = tm["seeds"] or [int(self.config["seed"])]
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"tmmnet.seeds: {seeds} repeats a seed")
        return Plan(
            facts=self.facts,
            studies=[s for s in self.wanted if runnable.get(s, True)],
            arms=arms,
            seeds=[int(s) for s in seeds],
            encoder=str(tm["encoder"]),
            comparison=comparison,
            text_guidance=guidance,
            cv_arm=cv_arm,
            cv_centres=cv_centres if cv_arm else [],
            cv_folds=folds,
            single_centre=single,
            multi_centre=target,
            fusion=fusion,
            distillation=distillation,
            dualbranch=dualbranch,
            left_out=self.left_out,
            objectives=objectives,
        )


def make_plan(config: Mapping[str, Any], facts: DatasetFacts) -> Plan:
    """The plan of `config` (validated, defaults filled) on the dataset described by `facts`."""
    return _Planner(config, facts).plan()


def plan_for(config: Mapping[str, Any]) -> Plan:
    """`make_plan` on the facts the config's dataset declares (`mmdiag.data.facts.declared_facts`)."""
    from mmdiag.data.facts import declared_facts

    return make_plan(config, declared_facts(config))
