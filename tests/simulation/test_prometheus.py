"""``bamel simulate --prometheus``: a cluster's history from the real Prometheus.

Fifteen days of node_exporter and kube-state-metrics series are written as OpenMetrics,
backfilled with ``promtool tsdb create-blocks-from openmetrics`` and served by Debian's
Prometheus; the simulator reads them back through prometheus-api-client.

The cluster, worked out by hand: two nodes of two cpus, 8 GiB each. Every cpu is busy
a quarter of the time in the first half of each day and three quarters in the second
(plus a tenth in iowait, which is not load): 1 then 3 of the 4 cores. Each node uses
2 GiB. Pod "web" runs and requests 2 cores and 3 GiB; pod "batch" has finished and
requested 2 cores and 8 GiB, which must not count. So cpu demand is the request (2
cores) in each day's first half and the use (3 cores) in its second, and memory demand
the use (4 of 16 GiB).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from bamel.cli import main
from controller.config.loading import dump_yaml
from simulation.prometheus import read_history
from tests.ship.observed import Prometheus, until

pytestmark = pytest.mark.integration

DAY = 86400
SCRAPE = 120
"""Seconds between backfilled samples: two to a rate window of five minutes."""
DAYS = 15
NODES = ("node-a", "node-b")
CPUS = 2
GIB = 2**30
PODS = {"web": ("Running", 2.0, 3 * GIB), "batch": ("Succeeded", 2.0, 8 * GIB)}
END = (datetime.now(UTC).timestamp() // SCRAPE) * SCRAPE - 600
"""The last backfilled sample: ten minutes ago, so the newest rows are covered."""
START = END - DAYS * DAY


def busy(times: np.ndarray) -> np.ndarray:
    """Share of a cpu's time at work: a quarter in each day's first half, then three."""
    return np.where(((times - START) % DAY) < DAY / 2, 0.25, 0.75)


TIMES = np.arange(START, END + 1, SCRAPE)


def series() -> Iterator[tuple[str, str, str, np.ndarray]]:
    """(family, type, name{labels}, values at TIMES) of every backfilled series."""
    shares = {"user": busy(TIMES), "iowait": np.full(len(TIMES), 0.1)}
    shares["idle"] = 1.0 - shares["user"] - shares["iowait"]
    for node in NODES:
        for cpu in range(CPUS):
            for mode, share in shares.items():
                yield ("node_cpu_seconds", "counter",
                       f'node_cpu_seconds_total{{instance="{node}",cpu="{cpu}",mode="{mode}"}}',
                       1000.0 + np.cumsum(share * SCRAPE))
    for name, value in (("node_memory_MemTotal_bytes", 8 * GIB),
                        ("node_memory_MemAvailable_bytes", 6 * GIB)):
        for node in NODES:
            yield name, "gauge", f'{name}{{instance="{node}"}}', np.full(len(TIMES), value)
    family = "kube_pod_container_resource_requests"
    for pod, (phase, cores, memory) in PODS.items():
        for resource, unit, value in (("cpu", "core", cores), ("memory", "byte", memory)):
            labels = (f'namespace="shop",pod="{pod}",container="main",resource="{resource}",'
                      f'unit="{unit}"')
            yield family, "gauge", f"{family}{{{labels}}}", np.full(len(TIMES), value)
        for candidate in ("Pending", "Running", "Succeeded"):
            labels = f'namespace="shop",pod="{pod}",phase="{candidate}"'
            yield ("kube_pod_status_phase", "gauge", f"kube_pod_status_phase{{{labels}}}",
                   np.full(len(TIMES), float(candidate == phase)))


def openmetrics(rows: slice) -> Iterator[str]:
    """The samples of TIMES[rows], each family's together, as OpenMetrics text."""
    by_family: dict[str, list[tuple[str, str, np.ndarray]]] = {}
    for family, kind, name, values in series():
        by_family.setdefault(family, []).append((kind, name, values))
    for family, members in by_family.items():
        yield f"# TYPE {family} {members[0][0]}"
        for _, name, values in members:
            yield from (f"{name} {value:.3f} {stamp:.0f}"
                        for value, stamp in zip(values[rows], TIMES[rows], strict=True))
    yield "# EOF"


def backfill(tsdb: Path, workdir: Path) -> None:
    """One promtool run per UTC day: it reads its input once for every 2-hour block it
    makes, so one file of fifteen days took over five minutes; days end on block
    boundaries, so no two runs make blocks over the same hours."""
    days = TIMES // DAY
    for day in np.unique(days):
        rows = np.flatnonzero(days == day)
        part = workdir / f"day-{int(day)}.om"
        with part.open("w", encoding="utf-8") as handle:
            handle.writelines(line + "\n"
                              for line in openmetrics(slice(rows[0], rows[-1] + 1)))
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                        str(part), str(tsdb)], check=True, capture_output=True, timeout=120)
        part.unlink()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus")
    backfill(workdir / "tsdb", workdir)
    server = Prometheus(workdir, {}, flags=["--storage.tsdb.retention.time=60d"])
    try:
        assert asyncio.run(until(server.ready, within=60))
        yield server
    finally:
        server.stop()


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    machines = [{"name": node, "pool": "general",
                 "capacity": {"cpu": CPUS, "memory": "8Gi", "network": "1G"},
                 "power": {"on": {"driver": "ipmi", "settings": {"host": f"10.0.0.{n}"}},
                           "off": {"driver": "ipmi", "settings": {"host": f"10.0.0.{n}"}}},
                 "bootTime": "3m", "idleWatts": 100, "busyWatts": 250}
                for n, node in enumerate(NODES, start=1)]
    document = {"apiVersion": "bamel.io/v1alpha1", "kind": "AutoscalerConfig",
                "pools": [{"name": "general", "limits": {"minNodes": 1}}],
                "machines": machines}
    path = tmp_path / "config.yaml"
    path.write_text(dump_yaml(document), encoding="utf-8")
    return path


async def test_history_is_use_or_live_requests_whichever_is_larger(
        prometheus: Prometheus) -> None:
    end = datetime.fromtimestamp(END, UTC)
    history = read_history(prometheus.url, since=14 * DAY, step=300, end=end)
    assert len(history.times) == 14 * DAY // 300
    assert history.missing == () and history.gaps == 0
    cores = history.demand[:, 0]
    # Rows whose five-minute rate window straddles a change of half-day sit between.
    assert np.mean(np.isclose(cores, 2.0, atol=0.01)) > 0.48
    assert np.mean(np.isclose(cores, 3.0, atol=0.01)) > 0.48
    assert ((cores > 1.99) & (cores < 3.01)).all()
    # Memory: 4 GiB used beats the running pod's 3 GiB; the finished pod is ignored.
    assert np.allclose(history.demand[:, 1], 4 * GIB)
    shares = history.trace(np.array([4.0, 16.0 * GIB, 2e9, 0.0]))
    assert float(shares.share[:, 0].max()) == pytest.approx(0.75, abs=0.01)
    assert shares.warnings == ()
    # 10,080 rows of two minutes take two queries a series; they join without a hole.
    fine = read_history(prometheus.url, since=14 * DAY, step=120, end=end)
    assert len(fine.times) == 10_080 and fine.gaps == 0
    assert np.allclose(fine.demand[::150, 1], 4 * GIB)


async def test_the_command_prints_the_report_for_the_configured_fleet(
        prometheus: Prometheus, config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--prometheus", prometheus.url, "--since", "14d",
            "--config", str(config_path), "--policy", "bamel", "--policy", "always-on",
            "--interval", "300", "--no-progress"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trace"] == f"prometheus:{prometheus.url}"
    assert report["machines"] == len(NODES)
    assert report["days"] == pytest.approx(14)
    assert report["peak_utilisation"] == pytest.approx(0.75, abs=0.01)
    # The newest rows, after the backfill's last sample, hold it and say so.
    for warning in report["warnings"]:
        gaps, _, rest = warning.partition(" of 4032 rows have no cpu measurement")
        assert rest == ": each holds the one before it" and int(gaps) <= 10
    # Half of each day one machine covers the load: the oracle powers the other off.
    assert 0 < report["ideal_saved_vs_always_on"] < 0.5
    bamel, always = report["policies"]
    assert always["saved_vs_always_on"] == 0
    assert bamel["share_of_oracle"] == pytest.approx(
        bamel["saved_vs_always_on"] / report["ideal_saved_vs_always_on"])
    argv[argv.index("14d")] = "3d"
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"### prometheus:{prometheus.url}, the last 3d: 3.0 days x 2 machines" in text
    assert "| bamel |" in text and "| always-on |" in text


async def test_a_prometheus_without_the_series_or_not_there_is_named(
        prometheus: Prometheus, config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing was recorded 40 days ago.
    old = datetime.fromtimestamp(END - 40 * DAY, UTC)
    with pytest.raises(ValueError, match="no node_cpu_seconds_total"):
        read_history(prometheus.url, since=DAY, step=300, end=old)
    closed = prometheus.url.replace("http://", "http://admin:secret@").rsplit(":", 1)[0] + ":9"
    argv = ["simulate", "--prometheus", closed, "--since", "1d", "--config", str(config_path),
            "--no-progress"]
    assert main(argv) == 1
    error = capsys.readouterr().err
    # The one line the command prints (other lines may come from logging set up by an
    # earlier test in this process, whose stream has since closed).
    [said] = [line for line in error.splitlines() if line.startswith("prometheus:")]
    assert said.startswith("prometheus:http://127.0.0.1:9: sum(rate(node_cpu_seconds_total")
    assert said.endswith(": cannot connect")
    assert "secret" not in error
