"""Where the contract says a port is published and which dbt model builds it.

The `published` server names one file per port, `<folder>/{model}.parquet`, and a port's
dbt model is its `dbtModel` custom property: the layout ODCS tools such as datacontract-cli
read. A contract written before 1.0.0 (the folder alone as the path, the dbt model in
physicalName) is still read, and what ODCS tools cannot read in it is listed.
"""

import os
from pathlib import Path

import pytest
import yaml
from products import contract_document, make_product

from dagster_data_product.cli import main as contract_command
from dagster_data_product.contract import ContractError, load_contract
from dagster_data_product.contract.catalog import render_catalog
from dagster_data_product.contract.upstreams import load_upstreams
from dagster_data_product.settings import _product_at


def write(folder: Path, document: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "datacontract.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def legacy(document: dict) -> dict:
    """The same contract as written before 1.0.0."""
    document["servers"][0]["path"] = "data/published"
    for obj in document["schema"]:
        obj["physicalName"] = obj.pop("customProperties")[0]["value"]
    return document


def test_port_file_and_dbt_model(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PUBLISH_DIR", raising=False)
    contract = load_contract(write(tmp_path, contract_document("sales", "shop")))
    (port,) = contract.ports
    assert (port.name, port.model) == ("orders", "fct_orders")
    assert contract.published_folder == "data/published"
    assert contract.published_file(port) == tmp_path / "data" / "published" / "orders.parquet"
    assert contract.legacy_layout == ()
    assert "url: '{CATALOG_DIR}/data/published/orders.parquet'" in render_catalog(contract)


def test_publish_dir_moves_the_files(tmp_path: Path, monkeypatch) -> None:
    contract = load_contract(write(tmp_path, contract_document("sales", "shop")))
    monkeypatch.setenv("PUBLISH_DIR", str(tmp_path / "elsewhere"))
    assert contract.published_file(contract.ports[0]) == tmp_path / "elsewhere" / "orders.parquet"
    assert contract.declared_published_dir() == tmp_path / "data" / "published"


def test_contract_before_1_0_0_is_read_and_its_layout_reported(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("PUBLISH_DIR", raising=False)
    new = load_contract(write(tmp_path / "new", contract_document("sales", "shop")))
    old = load_contract(write(tmp_path / "old", legacy(contract_document("sales", "shop"))))
    assert old.ports == new.ports
    assert old.published_folder == new.published_folder
    assert old.published_file(old.ports[0]) == tmp_path / "old" / "data/published/orders.parquet"
    assert render_catalog(old) == render_catalog(new)
    (path, physical_name) = old.legacy_layout
    assert "write data/published/{model}.parquet" in path
    assert "schema[0].physicalName: 'fct_orders' names the dbt model" in physical_name
    # Reading it is no failure, and `contract diff` sees no change in the new layout.
    assert contract_command(["diff", str(old.path), str(new.path)]) == 0
    assert "No change to the ports or the SLA." in capsys.readouterr().out


def test_legacy_layout_is_a_note_of_the_check(tmp_path: Path, capsys) -> None:
    root = make_product(tmp_path / "shop", "sales", "shop")
    path = root / "datacontract.yaml"
    path.write_text(yaml.safe_dump(legacy(yaml.safe_load(path.read_text())), sort_keys=False))
    before = Path.cwd()
    os.chdir(root)
    try:
        assert contract_command(["check"]) == 0
    finally:
        os.chdir(before)
        _product_at.cache_clear()
    out = capsys.readouterr().out
    assert "is valid" in out
    assert "ODCS tools such as datacontract-cli cannot read datacontract.yaml" in out


@pytest.mark.parametrize(
    "path",
    ["data/published/orders.parquet", "data/{model}/port.parquet", "data/published/{model}.csv"],
)
def test_published_path_names_one_file_per_port(tmp_path: Path, path: str) -> None:
    document = contract_document("sales", "shop")
    document["servers"][0]["path"] = path
    with pytest.raises(ContractError) as error:
        load_contract(write(tmp_path, document))
    assert "servers.published.path" in str(error.value)
    assert "<folder>/{model}.parquet" in str(error.value)


def test_a_port_names_its_dbt_model(tmp_path: Path) -> None:
    document = contract_document("sales", "shop")
    del document["schema"][0]["customProperties"]
    with pytest.raises(ContractError) as error:
        load_contract(write(tmp_path, document))
    assert "schema[0].customProperties: name the dbt model behind the port" in str(error.value)


def test_physical_name_other_than_the_port_is_refused(tmp_path: Path) -> None:
    """ODCS tools read a port's data by its physicalName: it can only be the port's name."""
    document = contract_document("sales", "shop")
    document["schema"][0]["physicalName"] = "fct_orders"
    with pytest.raises(ContractError) as error:
        load_contract(write(tmp_path, document))
    assert "schema[0].physicalName: 'fct_orders' is not the port's name" in str(error.value)
    document["schema"][0]["physicalName"] = "orders"
    assert load_contract(write(tmp_path, document)).ports[0].model == "fct_orders"


def test_consumer_reads_a_producer_of_either_layout(tmp_path: Path) -> None:
    """A consumer finds the files of a producer whose contract is still in the old layout."""
    producer = make_product(tmp_path / "shop", "sales", "shop")
    path = producer / "datacontract.yaml"
    path.write_text(yaml.safe_dump(legacy(yaml.safe_load(path.read_text())), sort_keys=False))
    consumer = make_product(
        tmp_path / "campaigns", "marketing", "campaigns", upstreams=["../shop/datacontract.yaml"]
    )
    (upstream,) = load_upstreams(consumer / "upstreams.yaml")
    assert upstream.ports[0].published_file == producer / "data" / "published" / "orders.parquet"
