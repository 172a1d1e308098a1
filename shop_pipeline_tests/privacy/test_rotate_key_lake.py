"""`rotate-pseudonym-key` in Spark mode: the lake's tables hold no pseudonym under the old key afterwards
(every Parquet file's decoded strings searched), each equals the warehouse re-keyed by the reference
path (test_rotate_key.py), and a second run (the resume of a finished rotation) writes nothing."""

from __future__ import annotations

import pytest

from shop_pipeline.pseudonyms import PSEUDONYM_KEY_FILE_ENV, pseudonymiser_from_env
from shop_pipeline.rotate_key import ROTATION_LOG, rotate_pseudonym_key
from shop_pipeline_tests.privacy.lake_helpers import (
    assert_lake_equals_warehouse,
    lake_files,
    spark_mode_env,
    spark_mode_shop,
)
from shop_pipeline_tests.privacy.scan import landed_ids, search_home

pytest.importorskip("pyspark")
pytestmark = pytest.mark.timeout(2400)  # the shared shop's build, and JVMs on a busy 2-core machine
# slow (-m slow): 37 s; the lake's write path it uses is guarded by test_forget_lake.py in the default suite
pytestmark = [pytestmark, pytest.mark.slow]
NEW_KEY = "5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b"


def test_the_rotation_rekeys_every_lake_table(pseudonymised_shop, key_file, tmp_path, monkeypatch, spark):
    paths = spark_mode_shop(pseudonymised_shop, tmp_path / "home")
    spark_mode_env(monkeypatch, paths, key_file)
    lake = paths.home / "lake"
    new_key_file = tmp_path / "new.key"
    new_key_file.write_text(NEW_KEY)
    new_key_file.chmod(0o600)
    old = pseudonymiser_from_env({PSEUDONYM_KEY_FILE_ENV: str(key_file)})
    new = pseudonymiser_from_env({PSEUDONYM_KEY_FILE_ENV: str(new_key_file)})
    ids = landed_ids(paths.landing)
    old_pseudonyms = {old(i) for i in ids}
    assert any("lake" in f.path.parts for f in search_home(paths.home, old_pseudonyms, skip=("landing",)))

    report = rotate_pseudonym_key(paths, new, [], spark=spark)

    assert report.lake_values_rekeyed.get("staging.events", 0) > 0
    assert not any("WARNING" in note for note in report.notes)
    assert search_home(lake, old_pseudonyms) == []
    assert search_home(lake, {new(i) for i in ids})  # the customers are there, under the new key
    assert_lake_equals_warehouse(paths)
    assert "lake_values_rekeyed" in (paths.logs / ROTATION_LOG).read_text()

    files = {relative: state[:2] for relative, state in lake_files(lake).items()}
    again = rotate_pseudonym_key(paths, new, [], spark=spark)  # the warehouse records the new key: resumes
    assert again.resumed and again.lake_values_rekeyed == {}
    assert {relative: state[:2] for relative, state in lake_files(lake).items()} == files
