"""Reading a machine's draw out of a Redfish Power resource, as DMTF's mockups shape it."""

from __future__ import annotations

from typing import Any

import pytest

from controller.power import PowerError
from controller.power.errors import Category
from controller.power.redfish import consumed_watts

URI = "/redfish/v1/Chassis/1U/Power"


def error(message: str, category: Category) -> PowerError:
    return PowerError(message, category=category, driver="redfish", machine="m")


def test_the_first_power_control_reading_is_the_draw() -> None:
    power = {"@odata.id": URI, "PowerControl": [
        {"MemberId": "0", "Name": "System Power Control", "PowerConsumedWatts": 344,
         "PowerCapacityWatts": 800, "PowerMetrics": {"AverageConsumedWatts": 319}},
        {"MemberId": "1", "PowerConsumedWatts": 12.5}]}
    assert consumed_watts(power, URI, error=error) == 344.0


@pytest.mark.parametrize("power", [
    {}, {"PowerControl": []}, {"PowerControl": [{"PowerConsumedWatts": None}]},
    {"PowerControl": [{"PowerCapacityWatts": 800}]},
    {"PowerControl": [{"PowerConsumedWatts": "344"}]},
    {"PowerControl": [{"PowerConsumedWatts": -1}]},
])
def test_no_reading_is_unsupported(power: dict[str, Any]) -> None:
    with pytest.raises(PowerError) as caught:
        consumed_watts(power, URI, error=error)
    assert caught.value.category == "unsupported"
    assert "PowerControl[0].PowerConsumedWatts" in str(caught.value)
