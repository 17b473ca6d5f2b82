"""Declared machines go through the reloader: the configuration in force is the last
valid document plus them, and a document that clashes with one is refused."""

from __future__ import annotations

from controller.config import ConfigHolder, declared_machine, load_config_text, render_config
from controller.config.loading import dump_yaml
from controller.metrics import ControllerMetrics
from controller.power import DRIVERS
from controller.reload import ConfigReloader
from tests.config.test_inventory import document, spec
from tests.controller.test_config_drivers import Complaints


def reloader() -> tuple[ConfigHolder, ConfigReloader]:
    holder = ConfigHolder(load_config_text(dump_yaml(document())))
    return holder, ConfigReloader(holder, metrics=ControllerMetrics())


async def test_a_declared_machine_joins_the_configuration_and_leaves_when_withdrawn() -> None:
    holder, reload = reloader()
    heard: list[list[str]] = []
    holder.subscribe(lambda config: heard.append([m.name for m in config.machines]))
    reload.declare(declared_machine("small-1", spec(), pools=["general"], drivers=DRIVERS))
    reload.withdraw("small-1")
    reload.withdraw("small-1")  # twice: nothing more happens
    assert heard == [["rack-1", "small-1"], ["rack-1"]]


async def test_a_document_naming_a_declared_machine_is_refused_and_the_old_one_stays() -> None:
    holder, reload = reloader()
    reload.declare(declared_machine("small-1", spec(), pools=["general"], drivers=DRIVERS))
    before = holder.current
    clash = render_config(reload.document).replace("name: rack-1", "name: small-1")
    complaints = Complaints()
    assert not await reload.offer(clash, origin="test", complain=complaints)
    assert holder.current == before
    assert "machine 'small-1' is declared twice: by machines[0] of the configuration and by " \
           "BareMetalNode/small-1; keep one" in complaints[0]
    edited = render_config(reload.document).replace("levelHigh: 0.6", "levelHigh: 0.7")
    assert await reload.offer(edited, origin="test")
    assert [m.name for m in holder.current.machines] == ["rack-1", "small-1"]
    assert holder.current.scoring.thresholds.level_high == 0.7
