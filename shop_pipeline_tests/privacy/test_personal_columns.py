"""A generic source mapping declares the file's personal columns: a dropped column's values are in
no file under the shop home after import, ingestion and staging; a pseudonymised one is there only
as its HMAC under the pseudonym key."""

import pytest
import yaml

from shop_pipeline.pseudonyms import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_FILE_ENV, Pseudonymiser
from shop_pipeline.settings import ShopPaths
from shop_pipeline.sources.importer import ImportFailed, import_files
from shop_pipeline.sources.landing import discover
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.privacy.conftest import KEY
from shop_pipeline_tests.privacy.scan import search_home
from shop_pipeline_tests.warehouse.helpers import run_days

HEADER = "customer_email,phone,full_name,street_address,ip,sku,ts,amount"
ROWS = [
    "annsmith42@mail.test,5551234567,Zelda Quixote,12 Larkspur Lane,2001:db8::77f1,p1,2025-01-01T10:00:00Z,9.5",
    "bobjones77@mail.test,5559876543,Ulrich Wexford,7 Thistlewood Road,2001:db8::c3d9,p2,2025-01-01T11:00:00Z,3",
    HEADER,  # a repeated header line: rejected by the import, its text kept without the personal columns
    "annsmith42@mail.test,5551234567,Zelda Quixote,12 Larkspur Lane,2001:db8::77f1,p2,2025-01-02T09:00:00Z,4",
]
DROPPED = {"5551234567", "5559876543", "Zelda", "Quixote", "Ulrich", "Wexford", "Larkspur", "Thistlewood"}
DROPPED |= {"77f1", "c3d9"}
EMAILS = {"annsmith42@mail.test", "bobjones77@mail.test"}
MAPPING = {
    "columns": {"user_id": "customer_email", "product_id": "sku", "event_time": "ts", "price": "amount"},
    "constants": {"event_type": "purchase"},
    "personal": {
        "customer_email": "pseudonymise",
        "phone": "drop",
        "full_name": "drop",
        "street_address": "drop",
        "ip": "drop",
    },
}


@pytest.fixture
def source(tmp_path, monkeypatch):
    monkeypatch.delenv(PSEUDONYM_KEY_FILE_ENV, raising=False)
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, KEY)
    path = tmp_path / "crm_orders.csv"  # the shop's export, outside the home
    path.write_text("\n".join([HEADER, *ROWS]) + "\n")
    return path


def test_dropped_columns_are_nowhere_and_pseudonymised_ones_only_as_hmacs(source, tmp_path):
    paths = ShopPaths.at(tmp_path / "home").ensure()
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text(yaml.safe_dump(MAPPING))
    reports = import_files("generic", [source], paths.landing, mapping_file)
    assert reports[0].rows == 3 and reports[0].rejects == 1
    days = sorted({landed.day for landed in discover(paths.landing)})
    with connect(paths.warehouse) as con:
        run_days(con, paths.landing, days)
        assert con.execute("SELECT count(*) FROM staging.events").fetchone()[0] == 3
    email_tokens = {"annsmith42", "bobjones77"}
    assert search_home(paths.home, DROPPED | email_tokens) == []
    hmacs = {Pseudonymiser(KEY.encode())(e) for e in EMAILS}
    found = search_home(paths.home, hmacs)
    assert found and {f.path.relative_to(paths.home).parts[0] for f in found} == {"landing"}


def test_a_dropped_column_cannot_be_mapped_and_pseudonymising_needs_the_key(source, tmp_path, monkeypatch):
    landing = tmp_path / "home" / "landing"
    leaking = {**MAPPING, "personal": {**MAPPING["personal"], "customer_email": "drop"}}
    with pytest.raises(ImportFailed, match="user_id <- customer_email: a column declared personal: drop"):
        import_files("generic", [source], landing, leaking)
    with pytest.raises(ImportFailed, match="the action must be one of drop, pseudonymise"):
        import_files("generic", [source], landing, {**MAPPING, "personal": {"phone": "mask"}})
    monkeypatch.delenv(PSEUDONYM_KEY_ENV)
    with pytest.raises(ImportFailed, match="no pseudonym key is set"):
        import_files("generic", [source], landing, MAPPING)
    assert not landing.exists() or not any(landing.rglob("*.parquet"))
