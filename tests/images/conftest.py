"""The built images, once per session: built (or found current) by scripts/build-images.sh."""

from __future__ import annotations

import pytest

from tests.images.engine import Built, build_images, is_root, missing_tools
from tests.kube.conftest import kube, namespace

__all__ = ["kube", "namespace"]


@pytest.fixture(scope="session")
def built() -> Built:
    if not is_root():
        pytest.skip("building and running images with podman needs root")
    missing = missing_tools()
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: run `make system`")
    return build_images()
