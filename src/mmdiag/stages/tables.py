"""Table rules: read run metrics, write the paper tables (mmdiag.reporting)."""

from __future__ import annotations

from typing import Any


def tmmnet_table(config: dict[str, Any], runs: list[str], csv: str, md: str, table: str, **_: Any) -> None:
    from mmdiag.reporting.tmm_tables import build_table, write_table

    write_table(build_table(table, list(runs), config), csv, md)
