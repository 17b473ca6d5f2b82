"""Reports of a comparison: markdown table, CSV, JSON and a PNG plot.

All of them read the same ``Figures``; the plot draws each policy's ready capacity
against the demand, as shares of the fleet, so a person sees where a policy lags
(deficit) or idles (capacity far above demand).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from simulation.engine import Run
from simulation.metrics import Figures

PLOT_EXTRA = "bamel-autoscaler[simulate]"
"""The extra that brings matplotlib: the images leave it out, with the fonts and image
libraries only it needs, because nothing but ``--plot`` draws."""

COLUMNS = ("policy", "energy_kwh", "saved_vs_always_on", "share_of_oracle", "unmet_share",
           "deficit_time_share", "power_cycles_per_machine", "power_cycles_per_machine_per_day",
           "failed_boots", "decisions", "mean_ready_share", "seconds")

NOTHING_TO_SAVE = 1e-9
"""An oracle saving at or below this share of the always-on energy is nothing: a share
of it would divide by the rounding left when demand keeps every machine busy."""
NOT_APPLICABLE = "n/a"


def with_savings(runs: Sequence[Run], reference: Figures | None, *,
                 oracle_saved: float | None = None) -> list[Figures]:
    """Figures with the share of energy saved against the always-on reference and,
    when the oracle saves something, the share of the oracle's saving achieved."""
    if reference is None or reference.energy_kwh <= 0:
        return [run.figures for run in runs]
    figures = []
    for run in runs:
        saved = 1.0 - run.figures.energy_kwh / reference.energy_kwh
        figures.append(replace(run.figures, saved_vs_always_on=saved,
                               share_of_oracle=share_of_oracle(saved, oracle_saved)))
    return figures


def share_of_oracle(saved: float, oracle_saved: float | None) -> float | None:
    """saved / oracle_saved, or None when the oracle saves nothing (or is unknown)."""
    if oracle_saved is None or oracle_saved <= NOTHING_TO_SAVE:
        return None
    return saved / oracle_saved


def markdown(figures: Sequence[Figures], *, title: str, ideal_saved: float | None = None) -> str:
    """A table a person reads: one row per policy, then what an oracle would save."""
    lines = [f"### {title}", "",
             "| policy | energy (kWh) | saved vs always-on | share of the oracle's saving "
             "| unmet demand | time with deficit | power cycles / machine "
             "| power cycles / machine / day | failed boots | decisions | mean ready |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for f in figures:
        saved = "—" if f.saved_vs_always_on is None else f"{f.saved_vs_always_on:.1%}"
        lines.append(f"| {f.policy} | {f.energy_kwh:,.0f} | {saved} "
                     f"| {_share(f.share_of_oracle)} | {f.unmet_share:.4%} "
                     f"| {f.deficit_time_share:.3%} | {f.power_cycles_per_machine:.2f} "
                     f"| {f.power_cycles_per_machine_per_day:.2f} "
                     f"| {f.failed_boots} | {f.decisions} | {f.mean_ready_share:.1%} |")
    if ideal_saved is not None:
        lines += ["", f"An oracle (ready capacity equal to demand at every moment, the cheapest "
                      f"machines, boots in no time) would save {ideal_saved:.1%}: no policy "
                      f"can save more on this trace and fleet."]
    return "\n".join(lines) + "\n"


def _share(share: float | None) -> str:
    return NOT_APPLICABLE if share is None else f"{share:.2f}"


def to_csv(figures: Sequence[Figures]) -> str:
    """One row per policy; a share of the oracle that does not apply reads n/a."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for f in figures:
        row = {key: value for key, value in f.as_dict().items() if key in COLUMNS}
        if row["share_of_oracle"] is None:
            row["share_of_oracle"] = NOT_APPLICABLE
        writer.writerow(row)
    return buffer.getvalue()


def to_json(figures: Sequence[Figures], *, context: dict[str, object]) -> str:
    """The context and each policy's figures; a share of the oracle that does not
    apply is null."""
    return json.dumps({**context, "policies": [f.as_dict() for f in figures]}, indent=2)


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed; the message says which extra brings it."""

    retriable = False


def plotting() -> ModuleType:
    """pyplot on the Agg backend, or PlotUnavailable naming the extra to install.

    ``bamel simulate --plot`` calls it before simulating, so a missing matplotlib
    fails in a second rather than after a week of trace has been replayed.
    """
    try:
        import matplotlib  # noqa: PLC0415 - heavy, optional, and only needed for --plot

        matplotlib.use("Agg")
        from matplotlib import pyplot  # noqa: PLC0415
    except ImportError as error:
        raise PlotUnavailable(f"--plot needs matplotlib: install {PLOT_EXTRA}") from error
    return pyplot


def plot(runs: Sequence[Run], path: Path, *, title: str) -> None:
    """Demand and each policy's ready capacity over time, as PNG."""
    pyplot = plotting()
    figure, axes = pyplot.subplots(figsize=(11, 4.5), dpi=90)
    first = runs[0].series
    hours = first.times / 3600.0
    axes.fill_between(hours, first.demand, color="0.85", label="demand")
    for run in runs:
        axes.plot(run.series.times / 3600.0, run.series.ready, linewidth=0.9,
                  label=run.figures.policy)
    axes.set_xlabel("hours")
    axes.set_ylabel("cpu, share of the fleet")
    axes.set_ylim(0, 1.05)
    axes.set_xlim(0, float(hours[-1]) if len(hours) else 1.0)
    axes.set_title(title)
    axes.legend(loc="lower right", ncols=3, fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
