"""Checks on the assumptions behind the ablation's intervals: the memory layout (:func:`layout_check`), runs trained
again with one seed (:func:`replica_rows`) and equal seed spread across the cells (:func:`spread_check`)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from gcflnet_lib.ablation.records import (METRICS, SEEDS, TABLE_ORDER_AND_BESIDE, _reported, cells, layout_of,
                                          pooled_variance)

def layout_check(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Does the memory layout move the results? Two checks, per metric, between the cells whose two seeds trained
    in one layout ("one") and those whose seeds trained in two ("two", seed 1 channels-last in each):

    - **spread**: the pooled seed variance of each group, the F ratio ``s²(two) / s²(one)`` and its two-sided
      p-value (F distribution with the two pooled degrees of freedom);
    - **shift**: the mean of ``d = seed 1 - seed 0`` over the "two" cells minus its mean over the "one" cells, a
      difference in differences: the seeds' own common change cancels, a systematic layout effect stays. Its 95 %
      t interval pools the variance of ``d`` within the groups (``df = cells - 2``). NaN where a two-layout cell
      trained seed 1 in NCHW, since then ``d`` would not read channels-last minus NCHW.
    """
    from scipy import stats

    layout = {(r["model"], int(r["seed"])): layout_of(r) for r in records}
    table = cells(records)
    paired = [v for v in table if set(table[v]) >= set(SEEDS)]
    groups = {"one": {v: table[v] for v in paired if len({layout[v, s] for s in SEEDS}) == 1},
              "two": {v: table[v] for v in paired if len({layout[v, s] for s in SEEDS}) == 2}}
    oriented = all(layout[v, SEEDS[1]] == "channels_last" for v in groups["two"])
    found: dict[str, Any] = {"cells": {key: sorted(group, key=TABLE_ORDER_AND_BESIDE.index) for key, group in groups.items()}}
    for metric in METRICS:
        (one, df_one), (two, df_two) = (pooled_variance(groups[key], metric) for key in ("one", "two"))
        ratio = two / one if df_one and df_two and one > 0 else math.nan
        p = (2 * min(stats.f.cdf(ratio, df_two, df_one), stats.f.sf(ratio, df_two, df_one))
             if not math.isnan(ratio) else math.nan)
        item = {"sd_one": math.sqrt(one) if df_one else math.nan, "df_one": df_one,
                "sd_two": math.sqrt(two) if df_two else math.nan, "df_two": df_two,
                "ratio": ratio, "p": float(min(1.0, p)) if not math.isnan(p) else math.nan,
                "shift": math.nan, "shift_low": math.nan, "shift_high": math.nan, "shift_df": 0}
        diffs = {key: [group[v][SEEDS[1]][metric] - group[v][SEEDS[0]][metric] for v in group]
                 for key, group in groups.items()}
        df = len(diffs["one"]) + len(diffs["two"]) - 2
        if oriented and diffs["one"] and diffs["two"] and df > 0:
            means = {key: sum(d) / len(d) for key, d in diffs.items()}
            squares = sum((x - means[key]) ** 2 for key, d in diffs.items() for x in d)
            half = float(stats.t.ppf(0.975, df)) * math.sqrt(squares / df * sum(1 / len(d) for d in diffs.values()))
            shift = means["two"] - means["one"]
            item.update(shift=shift, shift_low=shift - half, shift_high=shift + half, shift_df=df)
        found[metric] = item
    return found


def replica_rows(records: Sequence[Mapping[str, Any]], replicas: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Runs trained twice with one seed, beside the other seed of their cell: per metric the factorial's value, the
    replica's, ``replica - factorial`` and ``other seed - factorial`` (Fa x1e-6). A replica whose run is not in
    the factorial is listed with its factorial values absent."""
    scores = {(r["model"], int(r["seed"])): r for r in records}
    rows = []
    for replica in sorted(replicas, key=lambda r: (TABLE_ORDER_AND_BESIDE.index(r["model"]), r["seed"])):
        model, seed = replica["model"], int(replica["seed"])
        first, other = scores.get((model, seed)), next((scores[model, s] for s in SEEDS if s != seed and (model, s) in scores), None)
        row: dict[str, Any] = {"name": f"{model}_s{seed}", "variant": model, "seed": seed,
                               "layouts": [layout_of(first) if first else None, layout_of(replica)]}
        for metric in METRICS:
            again = _reported(replica["final"], metric)
            before = _reported(first["final"], metric) if first else math.nan
            second = _reported(other["final"], metric) if other else math.nan
            row[metric] = {"factorial": before, "replica": again, "replica_change": again - before,
                           "other_seed_change": second - before}
        rows.append(row)
    return rows


def spread_check(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The intervals pool the seed spread over the cells, which assumes it is alike across variants. Bartlett's test
    of that, per metric, over the cells with both seeds (statistic, df = cells - 1, p), and the widest cell with its
    standard deviation between the seeds. NaN with fewer than two such cells or a cell whose seeds agree exactly."""
    from scipy import stats

    table = cells(records)
    paired = sorted((v for v in table if len(table[v]) >= 2), key=TABLE_ORDER_AND_BESIDE.index)
    found: dict[str, Any] = {"cells": paired}
    for metric in METRICS:
        samples = [[seeds[s][metric] for s in sorted(seeds)] for seeds in (table[v] for v in paired)]
        sds = [statistics.stdev(values) for values in samples]
        item = {"statistic": math.nan, "df": max(0, len(paired) - 1), "p": math.nan, "widest": None, "widest_sd": math.nan}
        if sds:
            widest = max(range(len(sds)), key=sds.__getitem__)
            item.update(widest=paired[widest], widest_sd=sds[widest])
        if len(paired) >= 2 and all(sd > 0 for sd in sds):
            result = stats.bartlett(*samples)
            item.update(statistic=float(result.statistic), p=float(result.pvalue))
        found[metric] = item
    return found

