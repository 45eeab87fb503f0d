"""The ODPS descriptor: generated from the contract and the pins, valid against ODPS v1.1.0,
and `contract check` fails when it no longer agrees."""

import os
from pathlib import Path

import pytest
import yaml
from products import make_product

from dagster_data_product.cli import main as contract
from dagster_data_product.contract.descriptor import (
    DESCRIPTOR_FILE,
    DescriptorError,
    read_descriptor,
    resolve_contract,
    schema_errors,
)
from dagster_data_product.settings import _product_at


@pytest.fixture
def chain(tmp_path: Path) -> dict[str, Path]:
    """sales.orders <- marketing.campaigns (reads orders)."""
    sales = make_product(tmp_path / "orders", "sales", "orders", ports=("orders", "customers"))
    marketing = make_product(
        tmp_path / "campaigns",
        "marketing",
        "campaigns",
        ports=("campaigns",),
        upstreams=["../orders/datacontract.yaml"],
    )
    _product_at.cache_clear()
    return {"sales": sales, "marketing": marketing}


def run_in(folder: Path, *args: str) -> int:
    before = Path.cwd()
    os.chdir(folder)
    try:
        return contract(list(args))
    finally:
        os.chdir(before)
        _product_at.cache_clear()


def test_descriptor_describes_the_product_and_its_inputs(chain) -> None:
    descriptor = read_descriptor(chain["marketing"] / DESCRIPTOR_FILE)
    assert descriptor["apiVersion"] == "v1.1.0" and descriptor["kind"] == "DataProduct"
    assert descriptor["id"] == "marketing.campaigns"
    assert (descriptor["name"], descriptor["version"], descriptor["status"]) == (
        "Campaigns",
        "1.0.0",
        "active",
    )
    assert descriptor["domain"] == "marketing"
    assert descriptor["description"] == {"purpose": "The campaigns of the marketing domain."}
    assert descriptor["team"]["name"] == "marketing-data"
    assert descriptor["support"] == [
        {"channel": "email", "url": "mailto:marketing-data@example.com"}
    ]
    assert [(p["name"], p["contractId"], p["version"]) for p in descriptor["outputPorts"]] == [
        ("campaigns", "marketing.campaigns", "1.0.0")
    ]
    # Every pinned upstream port, with the upstream's contract id and version.
    assert [(p["name"], p["contractId"], p["version"]) for p in descriptor["inputPorts"]] == [
        ("orders", "sales.orders", "1.0.0"),
        ("customers", "sales.orders", "1.0.0"),
    ]
    assert resolve_contract(chain["marketing"] / DESCRIPTOR_FILE, descriptor).id == (
        "marketing.campaigns"
    )


def test_generated_descriptor_passes_the_check(chain, capsys) -> None:
    for folder in chain.values():
        assert run_in(folder, "check") == 0
    assert "the catalog and the descriptor agree" in capsys.readouterr().out


def test_schema_is_the_odps_one() -> None:
    assert schema_errors({"apiVersion": "v1.1.0", "kind": "DataProduct", "id": "x"}) == []
    errors = schema_errors({"apiVersion": "v9", "kind": "DataProduct", "outputPorts": [{}]})
    assert "(top level): 'id' is a required property" in errors
    assert any(e.startswith("apiVersion: 'v9' is not one of") for e in errors)
    assert "outputPorts[0]: 'name' is a required property" in errors


def test_a_new_contract_version_fails_the_check_until_rewritten(chain, capsys) -> None:
    folder = chain["sales"]
    contract_file = folder / "datacontract.yaml"
    document = yaml.safe_load(contract_file.read_text())
    document["version"] = "1.1.0"
    contract_file.write_text(yaml.safe_dump(document, sort_keys=False))
    assert run_in(folder, "catalog") == 0
    assert run_in(folder, "check") == 1
    err = capsys.readouterr().err
    assert "does not agree with the contract and the pins: run `uv run contract descriptor`" in err
    assert "version: '1.0.0', the contract says '1.1.0'" in err
    assert "outputPorts: orders of sales.orders: version '1.0.0', the contract says '1.1.0'" in err
    assert run_in(folder, "descriptor") == 0
    assert run_in(folder, "check") == 0


def test_a_changed_pin_fails_the_check_until_upstreams_rewrites_it(chain, capsys) -> None:
    """The upstream's new minor version reaches the consumer's input ports only through
    `contract upstreams`, which rewrites the pins' copy and the descriptor."""
    sales, marketing = chain["sales"], chain["marketing"]
    document = yaml.safe_load((sales / "datacontract.yaml").read_text())
    document["version"] = "1.2.0"
    (sales / "datacontract.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    assert run_in(marketing, "check") == 1
    assert "run `uv run contract upstreams`" in capsys.readouterr().err
    assert run_in(marketing, "upstreams") == 0
    descriptor = read_descriptor(marketing / DESCRIPTOR_FILE)
    assert {p["version"] for p in descriptor["inputPorts"]} == {"1.2.0"}
    assert run_in(marketing, "check") == 0


def test_hand_edits_and_missing_files_fail_the_check(chain, capsys) -> None:
    folder = chain["marketing"]
    path = folder / DESCRIPTOR_FILE
    original = path.read_text()
    descriptor = yaml.safe_load(original)
    descriptor["inputPorts"] = descriptor["inputPorts"][:1]
    path.write_text(yaml.safe_dump(descriptor, sort_keys=False))
    assert run_in(folder, "check") == 1
    assert "inputPorts: customers of sales.orders is missing: the pins say it exists" in (
        capsys.readouterr().err
    )
    path.write_text(original.replace("kind: DataProduct", "kind: DataContract"))
    assert run_in(folder, "check") == 1
    assert "is not a valid ODPS v1.1.0 descriptor" in capsys.readouterr().err
    path.unlink()
    assert run_in(folder, "check") == 1
    assert "no descriptor; run `uv run contract descriptor`" in capsys.readouterr().err
    assert run_in(folder, "descriptor") == 0
    assert path.read_text() == original


def test_contract_reference_must_resolve(chain) -> None:
    path = chain["sales"] / DESCRIPTOR_FILE
    descriptor = read_descriptor(path)
    descriptor["outputPorts"][0]["contractId"] = "sales.other"
    descriptor["outputPorts"][1]["name"] = "nothing"
    with pytest.raises(DescriptorError) as error:
        resolve_contract(path, descriptor)
    assert "contractId 'sales.other', the contract is 'sales.orders'" in str(error.value)
    assert "outputPorts[1] (nothing): the contract has no such port" in str(error.value)
    descriptor["customProperties"][0]["value"] = "missing.yaml"
    with pytest.raises(DescriptorError, match="its contract missing.yaml does not resolve"):
        resolve_contract(path, descriptor)
