"""The UI as users see it: `dagster dev` on a small shop, driven in headless Chromium.

What the pages must show is read from the definitions at test time (groups, assets, checks,
lineage, schedules, sensors), so the test grows with the pipeline. Each step saves a screenshot
to test-artifacts/ui/ (or $SHOP_PIPELINE_TEST_ARTIFACTS/ui/). The tests share one server and
run in file order: the sensors are turned on last, once nothing else runs.
"""

from __future__ import annotations

import re
from collections import defaultdict

from dagster import AssetKey

from shop_pipeline.definitions import defs

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture fails (CI) or skips with the reason
    expect = None

GRAPH = defs.resolve_asset_graph()
# Cheap and unpartitioned: it reloads the catalog file of the prepared shop.
UI_MATERIALIZED = AssetKey("raw_products")
# Has checks, parents and children: its page shows check results and lineage.
CHECKED_ASSET = AssetKey("clean_events")
RUN_TIMEOUT_MS = 120_000  # queued, dequeued by the daemon, then a fresh run process
MAX_ZOOM_OUTS = 8

RUN = """
query Run($runId: ID!) { runOrError(runId: $runId) { __typename
    ... on Run { status assetSelection { path } } } }
"""
LATEST_MATERIALIZATION = """
query Latest($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename
    ... on Asset { assetMaterializations(limit: 1) { runId } } } }
"""
INSTIGATORS = """
{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError {
    ... on RepositoryLocation { repositories {
        schedules { name scheduleState { status } }
        sensors { name sensorState { status } } } } } } } } }
"""


def assets_by_group() -> dict[str, list[AssetKey]]:
    groups = defaultdict(list)
    for key in GRAPH.get_all_asset_keys():
        groups[GRAPH.get(key).group_name].append(key)
    return dict(groups)


def url_of(key: AssetKey) -> str:
    return "/assets/" + "/".join(key.path)


def drawn(page, name: str):
    """A node of the asset graph (an asset or a collapsed group) with this label."""
    return page.locator(f'svg foreignObject [data-tooltip="{name}"]')


def expect_drawn(page, names: list[str]) -> None:
    """Every name is a node of the graph on the page, zooming out as a user would to see them all.

    The graph draws only the nodes inside the view, and a big group does not fit at first."""
    expect(page.locator("svg foreignObject [data-tooltip]").first).to_be_visible()  # laid out
    for _ in range(MAX_ZOOM_OUTS):
        if all(drawn(page, name).count() for name in names):
            break
        page.locator("button:has([aria-label=zoom_out])").click()
        page.wait_for_timeout(300)  # the zoom animates
    for name in names:
        expect(drawn(page, name)).to_be_visible()


def definition_field(page, label: str):
    """The value next to a label of the asset page's Definition panel (Group, Owners, Kinds)."""
    return page.get_by_text(label, exact=True).locator("xpath=following-sibling::*[1]")


def test_the_graph_draws_every_group_and_each_group_page_its_assets(page, dagster_ui, artifacts_dir):
    groups = assets_by_group()
    assert set(dagster_ui.shop.groups) <= set(groups)
    page.goto("/asset-groups")
    expect_drawn(page, sorted(groups))
    page.screenshot(path=artifacts_dir / "asset-graph.png")

    for group, keys in sorted(groups.items()):
        page.goto(f"/locations/{dagster_ui.location}/asset-groups/{group}")
        expect_drawn(page, sorted(key.to_user_string() for key in keys))
        page.screenshot(path=artifacts_dir / f"group-{group}.png")


def test_asset_pages_show_group_description_owners_kinds_and_table_schema(page, dagster_ui, artifacts_dir):
    keys = [key for group, keys in assets_by_group().items() if group in dagster_ui.shop.groups for key in keys]
    for key in sorted(keys, key=lambda k: k.to_user_string()):
        node = GRAPH.get(key)
        page.goto(url_of(key))
        expect(definition_field(page, "Group")).to_have_text(node.group_name)
        if node.description:
            expect(page.locator("body")).to_contain_text(" ".join(node.description.split()))
        owners = definition_field(page, "Owners")
        for owner in node.owners:
            expect(owners).to_contain_text(owner.removeprefix("team:"))
        kinds = definition_field(page, "Kinds")
        for kind in node.kinds:
            # a known kind is drawn as its logo (named by the kind), any other as its name
            shown = kinds.get_by_role("img", name=kind, exact=True).or_(kinds.get_by_text(kind, exact=True))
            expect(shown.first).to_be_visible()
        schema = node.metadata.get("dagster/column_schema")
        for column in schema.columns if schema else []:
            row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=column.name, exact=True))
            expect(row).to_contain_text(column.type)
        page.screenshot(path=artifacts_dir / f"asset-{'-'.join(key.path)}.png", full_page=True)


def test_materialize_from_the_ui_runs_to_success(page, dagster_ui, artifacts_dir):
    node = GRAPH.get(UI_MATERIALIZED)
    assert node.is_materializable and not node.is_partitioned
    page.goto(url_of(UI_MATERIALIZED))
    page.locator("button", has_text=re.compile(r"^Materialize$")).click()

    # The "Launched run" notice links to the run; it fades after a few seconds, so follow its link.
    view_run = page.locator("[data-sonner-toast]").get_by_role("link", name="View", exact=True)
    run_url = view_run.get_attribute("href")
    run_id = run_url.rsplit("/", 1)[-1]
    page.goto(run_url)
    outcome = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$"))
    expect(outcome).to_be_visible(timeout=RUN_TIMEOUT_MS)
    page.screenshot(path=artifacts_dir / "run.png")

    run = dagster_ui.graphql(RUN, {"runId": run_id})["runOrError"]
    assert outcome.inner_text() == "Success", f"run {run_id} ended {run.get('status')}:\n{dagster_ui.log_tail()}"
    assert run["status"] == "SUCCESS"
    assert [a["path"] for a in run["assetSelection"]] == [UI_MATERIALIZED.path]
    asset = dagster_ui.graphql(LATEST_MATERIALIZATION, {"key": {"path": UI_MATERIALIZED.path}})["assetOrError"]
    assert asset["assetMaterializations"] == [{"runId": run_id}]


def test_checks_tab_shows_each_check_with_its_last_result(page, dagster_ui, artifacts_dir):
    results = defaultdict(dict)
    for check, passed in dagster_ui.shop.checks.items():
        results[check.asset_key][check.name] = passed
    assert CHECKED_ASSET in results, f"the prepared run evaluated no check of {CHECKED_ASSET.to_user_string()}"
    for key, passed_by_name in sorted(results.items(), key=lambda item: item[0].to_user_string()):
        page.goto(url_of(key))
        page.get_by_role("tab", name="Checks").click()
        defined = {check.name for check in GRAPH.get(key).check_keys}
        expect(page.get_by_text(f"Checks ({len(defined)})", exact=True)).to_be_visible()
        for name in sorted(defined):
            # CSS-module class of the checks list (dagster-webserver 1.13)
            row = page.locator('[class*="AssetChecks_checkRow"]').filter(has=page.locator(f'[title="{name}"]'))
            expect(row).to_be_visible()
            if name in passed_by_name:
                expect(row).to_contain_text("Succeeded" if passed_by_name[name] else "Failed")
        page.screenshot(path=artifacts_dir / f"checks-{'-'.join(key.path)}.png")


def test_lineage_tab_draws_the_assets_parents_and_children(page, artifacts_dir):
    node = GRAPH.get(CHECKED_ASSET)
    neighbours = node.parent_keys | node.child_keys
    assert node.parent_keys and node.child_keys
    page.goto(url_of(CHECKED_ASSET))
    page.get_by_role("tab", name="Lineage").click()
    expect_drawn(page, sorted(key.to_user_string() for key in {CHECKED_ASSET, *neighbours}))
    page.screenshot(path=artifacts_dir / f"lineage-{'-'.join(CHECKED_ASSET.path)}.png")


def instigator_states(dagster_ui) -> dict[tuple[str, str], str]:
    """("schedules" | "sensors", name) -> RUNNING or STOPPED, as the instance records it."""
    [location] = dagster_ui.graphql(INSTIGATORS)["workspaceOrError"]["locationEntries"]
    states = {}
    for repo in location["locationOrLoadError"]["repositories"]:
        states |= {("schedules", s["name"]): s["scheduleState"]["status"] for s in repo["schedules"]}
        states |= {("sensors", s["name"]): s["sensorState"]["status"] for s in repo["sensors"]}
    return states


def test_schedules_and_sensors_are_listed_and_can_be_turned_on(page, dagster_ui, artifacts_dir):
    repository = defs.get_repository_def()
    expected = {("schedules", s.name) for s in repository.schedule_defs}
    expected |= {("sensors", s.name) for s in repository.sensor_defs}
    before = instigator_states(dagster_ui)
    assert set(before) == expected
    page.goto("/automation")
    if not expected:
        expect(page.get_by_text("No automations", exact=True)).to_be_visible()
    for kind, name in sorted(expected):
        # CSS-module classes of the automation list and its on/off switch (dagster-webserver 1.13)
        row = page.locator('[class*="ListItem_listItem_"]').filter(has=page.locator(f'a[href$="/{kind}/{name}"]'))
        expect(row).to_have_count(1)
        switch = row.locator('label[class*="Checkbox_formatSwitch"]')
        if before[(kind, name)] == "RUNNING":  # on by default: the switch must say so
            expect(switch.locator("input")).to_be_checked()
            continue
        expect(switch.locator("input")).not_to_be_checked()
        switch.click()
        expect(switch.locator("input")).to_be_checked()
    # a switch is disabled until the server confirms its change
    for switch in page.locator('label[class*="Checkbox_formatSwitch"] input').all():
        expect(switch).to_be_enabled()
    page.screenshot(path=artifacts_dir / "automation.png")
    assert instigator_states(dagster_ui) == {instigator: "RUNNING" for instigator in expected}
