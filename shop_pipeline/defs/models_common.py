"""Wiring shared by the model stages: version lineage, the promotion gate check, images."""

import base64

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue

ML_TEAM = ["team:ml"]
PROMOTION_GATE_CHECK = "promotion_gate"


def upstream_version(context, asset_name: str) -> str:
    """The model version that the upstream training asset produced (read from its metadata)."""
    event = context.instance.get_latest_materialization_event(AssetKey(asset_name))
    if event is None or event.asset_materialization is None:
        raise RuntimeError(f"{asset_name} has not been materialized: train it first")
    value = event.asset_materialization.metadata.get("model_version")
    if value is None:
        raise RuntimeError(f"{asset_name}'s latest materialization records no model_version")
    return value.value


def png_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def gate_check_result(decision, champion_after, version: str) -> AssetCheckResult:
    """Passes when a champion exists after the decision: the new version, or the kept one.

    Fails (blocking scoring) only when no model has ever beaten the baselines.
    """
    if decision.promote:
        verdict = f"promoted {version}"
    elif champion_after is not None:
        verdict = f"refused {version}; champion {champion_after.version} stays"
    else:
        verdict = f"refused {version}; there is no champion, so nothing can be scored"
    return AssetCheckResult(
        check_name=PROMOTION_GATE_CHECK,
        passed=champion_after is not None,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "decision": verdict,
            "promoted": decision.promote,
            "champion": champion_after.version if champion_after else "none",
            "reasons": MetadataValue.md("\n".join(f"- {reason}" for reason in decision.reasons)),
            "comparisons": MetadataValue.md(decision.table_markdown),
        },
    )
