"""The in-app layer contracts (pyproject.toml, checked by ``lint-imports``) name every module of their app, so a
module added later cannot sit outside them unchecked."""

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_LAYERED = {"__init__.py", "apps.py", "migrations", "templates", "static", "__pycache__"}


def _contracts() -> dict[str, list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    layered = {}
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract["type"] == "layers" and contract["name"].endswith("-> selectors -> models"):
            app = contract["name"].split(":")[0]
            layered[app] = [module for layer in contract["layers"] for module in layer.split(" : ")]
    return layered


CONTRACTS = _contracts()


def test_every_domain_app_has_its_layers_contract():
    assert set(CONTRACTS) == {
        "audiences", "leads", "offers", "funnels", "fulfilment", "spend", "analytics", "pipeline",
    }  # fmt: skip


@pytest.mark.parametrize("app", sorted(CONTRACTS))
def test_each_layers_contract_names_every_module_of_its_app(app):
    modules = {
        f"{app}.{path.name.removesuffix('.py')}"
        for path in (ROOT / app).iterdir()
        if path.name not in NOT_LAYERED and (path.suffix == ".py" or (path / "__init__.py").exists())
    }
    listed = {module.strip() for module in CONTRACTS[app]}
    assert modules - listed == set(), f"add these to the {app} layers contract in pyproject.toml"
    assert listed - modules == set(), f"the {app} layers contract names modules that do not exist"
