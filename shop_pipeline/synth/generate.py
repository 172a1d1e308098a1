"""generate_shop: run the whole generator, one day at a time, writing only under home.

Memory stays bounded by one day's events (plus the small carries to the next day: events
past midnight, late deliveries, duplicate copies) and the per-order fraud labels.
"""

from __future__ import annotations

import collections
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shop_pipeline.synth.batch import PURCHASE, EventBatch
from shop_pipeline.synth.config import DEFECT_OUTCOMES, EVENT_COLUMNS, FILE_DEFECTS, GeneratorConfig
from shop_pipeline.synth.defects import pick_file_defect_days, plan_line_defects, plant_day
from shop_pipeline.synth.events import DAY_MS, DaySimulator, day_start_ms
from shop_pipeline.synth.fraud import fraud_day
from shop_pipeline.synth.profiles import shape_world
from shop_pipeline.synth.render import render
from shop_pipeline.synth.world import World, build_tastes, build_world
from shop_pipeline.synth.writers import atomic_write_bytes, write_chargebacks, write_csv, write_events

DRIFT_COUPONS = ("SAVE10", "WELCOME5", "FREESHIP", "VIP20")
CHARGEBACKS_FILE = "labels/chargebacks.csv"


@dataclass
class GenerationSummary:
    home: Path
    files: list[str]  # every file written, relative to home
    events_per_file: dict[str, int]  # event file (relative to landing) -> data lines
    total_events: int  # distinct real events written (late and schema-drift ones included)
    total_lines: int  # data lines in all event files (defect copies and replay included)
    defects: dict[str, int]
    late_events: int
    orders: int
    fraud_orders: int
    seconds: float
    other_event_files: list[str] = field(default_factory=list)  # pre-existing files this run did not write

    def describe(self) -> str:
        planted = sum(self.defects.values())
        lines = [
            f"shop generated under {self.home} in {self.seconds:.1f} s",
            f"  {self.total_events:,} events in {len(self.events_per_file)} event files "
            f"({self.total_lines:,} data lines), {self.late_events:,} delivered late",
            f"  {self.orders:,} orders, {self.fraud_orders:,} fraudulent",
            f"  {planted:,} planted defects: "
            + (", ".join(f"{k}={v}" for k, v in self.defects.items() if v) or "none"),
        ]
        if self.other_event_files:
            lines.append(
                f"  warning: {len(self.other_event_files)} other event files already in landing/events "
                f"(not from this run), e.g. {self.other_event_files[0]}"
            )
        return "\n".join(lines)


def _event_file(day, ext: str, suffix: str = "") -> str:
    return f"events/events_{day.isoformat()}{suffix}.{ext}"


def _write_side_files(world: World, landing: Path) -> dict[str, int]:
    written = {}
    written["catalog/products.csv"] = write_csv(
        landing / "catalog" / "products.csv",
        ("product_id", "name", "category", "brand", "base_price", "launched_on"),
        (
            (
                world.product_ids[p],
                world.product_names[p],
                world.category_names[world.product_category[p]],
                world.brand_names[world.product_brand[p]],
                f"{world.base_cents[p] / 100:.2f}",
                world.day(world.launch_day[p]).isoformat(),
            )
            for p in range(world.n_products)
        ),
    )
    written["marketing/ad_spend.csv"] = write_csv(
        landing / "marketing" / "ad_spend.csv",
        ("date", "category", "ad_spend"),
        (
            (world.day(d).isoformat(), world.category_names[c], f"{world.ad_spend[d, c]:.2f}")
            for d in range(world.days)
            for c in range(world.n_categories)
        ),
    )
    written["marketing/promotions.csv"] = write_csv(
        landing / "marketing" / "promotions.csv",
        ("product_id", "start_date", "end_date", "discount_pct"),
        (
            (world.product_ids[p], world.day(first).isoformat(), world.day(last).isoformat(), f"{pct:.2f}")
            for p, first, last, pct in sorted(world.promotions)
        ),
    )
    return written


def generate_shop(home: Path, config: GeneratorConfig) -> GenerationSummary:
    started = time.perf_counter()
    home = Path(home)
    landing = home / "landing"
    truth_dir = home / "ground_truth"
    ext = config.extension
    before = {p.relative_to(landing).as_posix() for p in (landing / "events").glob("*") if p.is_file()}

    root = np.random.SeedSequence(config.seed)
    world_seed, plan_seed, days_seed = root.spawn(3)
    (chargeback_seed,) = root.spawn(1)  # a 4th child: the first three streams stay as they were
    (taste_seed,) = root.spawn(1)  # a 5th: tastes and taste views, leaving the other streams alone
    taste_world_seed, taste_days_seed = taste_seed.spawn(2)
    world = build_world(config, np.random.Generator(np.random.PCG64(world_seed)))
    build_tastes(world, np.random.Generator(np.random.PCG64(taste_world_seed)))
    profile_days_seed = None
    if config.profile != "default":  # a 6th child, spawned only for a profile: the default shop stays as it was
        (profile_seed,) = root.spawn(1)
        profile_world_seed, profile_days_seed = profile_seed.spawn(2)
        shape_world(world, config, np.random.Generator(np.random.PCG64(profile_world_seed)))
    sim = DaySimulator(world, config)
    plan_rng = np.random.Generator(np.random.PCG64(plan_seed))
    plan = plan_line_defects(config, sim.targets, plan_rng)
    replay_day, drift_day = pick_file_defect_days(config, plan_rng)
    day_seeds = days_seed.spawn(config.days)
    taste_day_seeds = taste_days_seed.spawn(config.days)
    profile_day_seeds = [] if profile_days_seed is None else profile_days_seed.spawn(config.days)

    landing_files = _write_side_files(world, landing)
    events_per_file: dict[str, int] = {}
    truth: list[tuple[str, int | str, str, str]] = []
    defect_counts: collections.Counter[str] = collections.Counter()
    fraud_patterns: dict[int, str] = {}
    order_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    carry_spill = EventBatch.empty()
    carry_late = EventBatch.empty()
    carry_dups = None
    late_total = real_events = dropped_spill = 0
    replay_file = drift_file = None

    for d in range(config.days):
        rng = np.random.Generator(np.random.PCG64(day_seeds[d]))
        day = world.day(d)
        last_day = d == config.days - 1
        ctx = sim.context(d)
        profile_rng = None if profile_days_seed is None else np.random.Generator(np.random.PCG64(profile_day_seeds[d]))
        legit = sim.legit_day(ctx, rng, np.random.Generator(np.random.PCG64(taste_day_seeds[d])), profile_rng)
        n_orders = len(np.unique(legit.order[legit.order >= 0]))
        first_key = int(legit.session.max()) + 1 if len(legit) else 0
        fraud, patterns = fraud_day(sim, ctx, rng, n_orders, first_key)
        batch, order_map = sim.assign_ids(EventBatch.concat([legit, fraud]), d)
        fraud_patterns.update({order_map[k]: v for k, v in patterns.items()})

        # sessions running past midnight continue in the next day's file
        batch = EventBatch.concat([carry_spill, batch])
        spill = batch.time_ms >= day_start_ms(day) + DAY_MS
        carry_spill = batch.take(np.flatnonzero(spill))
        batch = batch.take(np.flatnonzero(~spill))
        if last_day:
            dropped_spill = len(carry_spill)

        # late delivery: a few events arrive in the next day's file, with their true time
        late = EventBatch.empty()
        if not last_day and config.late_rate > 0 and len(batch):
            n_late = int(rng.binomial(len(batch), config.late_rate))
            pick = np.zeros(len(batch), dtype=bool)
            pick[rng.choice(len(batch), size=n_late, replace=False)] = True
            late = batch.take(np.flatnonzero(pick))
            batch = batch.take(np.flatnonzero(~pick))
        batch = EventBatch.concat([batch, carry_late]).sorted_by_time()
        late_total += len(carry_late)
        carry_late = late

        partner = None
        if d == drift_day:
            candidates = np.flatnonzero(batch.etype != PURCHASE)
            k = min(config.schema_drift_events, len(candidates) // 2)
            held = np.zeros(len(batch), dtype=bool)
            held[rng.choice(candidates, size=k, replace=False)] = True
            partner = batch.take(np.flatnonzero(held))
            batch = batch.take(np.flatnonzero(~held))

        has_order = batch.etype == PURCHASE
        order_parts.append((batch.order[has_order], batch.user[has_order], batch.time_ms[has_order]))
        real_events += len(batch)

        counts = {name: int(per_day[d]) for name, per_day in plan.items()}
        planted = plant_day(
            render(batch, world),
            batch.time_ms,
            counts,
            rng,
            carry_dups,
            not last_day,
            sim.new_event_numbers,
            config.duplicate_next_file_share,
        )
        carry_dups = planted.carry
        rel = _event_file(day, ext)
        events_per_file[rel] = write_events(landing / rel, config.format, planted.cols, planted.line_edits)
        for line, event_id, defect in planted.truth:
            truth.append((rel, line, event_id, defect))
            defect_counts[defect] += 1

        if d == replay_day:
            replay_file = _event_file(day, ext, " (replay)")
            shutil.copyfile(landing / rel, landing / replay_file)
            events_per_file[replay_file] = events_per_file[rel]
            truth.append((replay_file, "", "", "replayed_file"))
            defect_counts["replayed_file"] += 1
        if partner is not None:
            real_events += len(partner)
            cols = render(partner, world)
            drifted = {("unit_price" if name == "price" else name): cols[name] for name in EVENT_COLUMNS}
            drifted["coupon_code"] = np.where(
                rng.random(len(partner)) < 0.3, rng.choice(np.array(DRIFT_COUPONS), size=len(partner)), ""
            )
            drift_file = _event_file(day, ext, "_partner")
            events_per_file[drift_file] = write_events(landing / drift_file, config.format, drifted)
            truth.append((drift_file, "", "", "schema_drift"))
            defect_counts["schema_drift"] += 1

    # fraud labels: every order that reached a file
    orders = np.concatenate([o for o, _, _ in order_parts]) if order_parts else np.zeros(0, dtype=np.int64)
    users = np.concatenate([u for _, u, _ in order_parts]) if order_parts else np.zeros(0, dtype=np.int64)
    times = np.concatenate([t for _, _, t in order_parts]) if order_parts else np.zeros(0, dtype=np.int64)
    order_ids, first = np.unique(orders, return_index=True)
    order_users = users[first]
    user_width = max(6, len(str(world.n_users)))
    write_csv(
        truth_dir / "fraud_labels.csv",
        ("order_id", "user_id", "is_fraud", "pattern"),
        (
            (f"o{o:08d}", f"u{u + 1:0{user_width}d}", int(o in fraud_patterns), fraud_patterns.get(o, ""))
            for o, u in zip(order_ids.tolist(), order_users.tolist())
        ),
    )
    n_fraud = sum(1 for o in order_ids.tolist() if o in fraud_patterns)
    # the shop's view of the same fraud: chargebacks reported days later (landing/labels)
    fraud_keys = np.array([o in fraud_patterns for o in order_ids.tolist()], dtype=bool)
    by_order = np.argsort(orders, kind="stable")
    starts = np.flatnonzero(np.diff(orders[by_order], prepend=-1) != 0)  # aligned with order_ids
    order_times = np.minimum.reduceat(times[by_order], starts) if len(orders) else times
    landing_files[CHARGEBACKS_FILE] = write_chargebacks(
        landing / CHARGEBACKS_FILE,
        [f"o{o:08d}" for o in order_ids[fraud_keys].tolist()],
        order_times[fraud_keys],
        world.day(config.days - 1),
        np.random.Generator(np.random.PCG64(chargeback_seed)),
    )
    truth.sort(key=lambda row: (row[0], row[1] if isinstance(row[1], int) else 0, row[3]))
    write_csv(
        truth_dir / "defects.csv",
        ("source_file", "line", "event_id", "defect", "expected_outcome"),
        ((f, line, eid, defect, DEFECT_OUTCOMES[defect]) for f, line, eid, defect in truth),
    )
    all_defects = {name: int(defect_counts.get(name, 0)) for name in DEFECT_OUTCOMES}
    report = {
        "generator": "shop_pipeline.synth",
        "config": config.to_dict(),
        "event_columns": list(EVENT_COLUMNS),
        "files": {**landing_files, **dict(sorted(events_per_file.items()))},
        "events_per_file": dict(sorted(events_per_file.items())),
        "real_events": real_events,
        "data_lines": int(sum(events_per_file.values())),
        "late_events": late_total,
        "events_dropped_after_last_day": dropped_spill,
        "defects": all_defects,
        "defect_outcomes": DEFECT_OUTCOMES,
        "file_defects": {"replayed_file": replay_file, "schema_drift": drift_file},
        "orders": len(order_ids),
        "fraud_orders": n_fraud,
        "products": world.n_products,
        "users": world.n_users,
        "categories": world.category_names.tolist(),
        "promotions": len(world.promotions),
    }
    atomic_write_bytes(truth_dir / "generation.json", (json.dumps(report, indent=2) + "\n").encode("utf-8"))

    written = [f"landing/{rel}" for rel in report["files"]]
    written += ["ground_truth/defects.csv", "ground_truth/fraud_labels.csv", "ground_truth/generation.json"]
    assert set(FILE_DEFECTS) <= set(all_defects)
    return GenerationSummary(
        home=home,
        files=written,
        events_per_file=report["events_per_file"],
        total_events=real_events,
        total_lines=report["data_lines"],
        defects=all_defects,
        late_events=late_total,
        orders=len(order_ids),
        fraud_orders=n_fraud,
        seconds=time.perf_counter() - started,
        other_event_files=sorted(before - set(events_per_file)),
    )
