"""The shop's static world: categories, brands, products, users, ad spend and promotions.

Everything here is drawn once per run from the world's random stream; the daily event
simulation (events.py) only reads it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from shop_pipeline.synth.config import GeneratorConfig

# name, log of the median base price, log-sd of the base price, product nouns
CATEGORY_SPECS: tuple[tuple[str, float, float, tuple[str, ...]], ...] = (
    ("electronics", 4.7, 0.9, ("headphones", "charger", "speaker", "monitor", "keyboard", "camera", "tablet")),
    ("apparel", 3.4, 0.6, ("t-shirt", "jeans", "jacket", "sneakers", "dress", "hoodie")),
    ("home", 3.5, 0.8, ("lamp", "cushion", "rug", "mirror", "towel set", "vase")),
    ("beauty", 2.9, 0.6, ("serum", "lipstick", "shampoo", "moisturiser", "perfume")),
    ("sports", 3.6, 0.8, ("yoga mat", "dumbbell", "tennis racket", "running shorts", "bike helmet")),
    ("toys", 3.1, 0.7, ("puzzle", "building set", "doll", "board game", "rc car")),
    ("grocery", 1.8, 0.5, ("coffee", "olive oil", "tea", "chocolate", "pasta")),
    ("books", 2.7, 0.4, ("novel", "cookbook", "biography", "atlas", "comic")),
    ("garden", 3.4, 0.8, ("hose", "planter", "pruner", "seed kit", "lawn chair")),
    ("automotive", 3.7, 0.9, ("wiper set", "car charger", "seat cover", "tyre gauge", "dash cam")),
    ("pet_supplies", 2.9, 0.7, ("dog bed", "cat tree", "leash", "pet food", "aquarium")),
    ("office", 2.6, 0.7, ("notebook", "desk lamp", "pen set", "office chair", "stapler")),
    ("jewelry", 4.1, 1.0, ("necklace", "ring", "bracelet", "earrings", "watch")),
    ("kitchen", 3.5, 0.8, ("blender", "knife set", "frying pan", "kettle", "coffee maker")),
    ("health", 2.8, 0.6, ("vitamins", "thermometer", "first aid kit", "massager", "scale")),
)
_BRAND_HEADS = (
    "Nor",
    "Alt",
    "Ves",
    "Kal",
    "Bri",
    "Zen",
    "Oro",
    "Lum",
    "Tav",
    "Qui",
    "Ral",
    "Sol",
    "Mer",
    "Dax",
    "Fen",
    "Hal",
)
_BRAND_TAILS = ("vik", "era", "tro", "ona", "ix", "ano", "ford", "ly", "mark", "ssa", "wood", "on", "ique", "ara")
_ADJECTIVES = ("classic", "pro", "eco", "mini", "plus", "smart", "deluxe", "essential", "ultra", "compact")

# share of the day's traffic in each UTC hour: quiet at night, peaking in the evening
HOUR_WEIGHTS = np.array(
    [
        0.30,
        0.20,
        0.15,
        0.12,
        0.12,
        0.20,
        0.40,
        0.70,
        0.90,
        1.00,
        1.05,
        1.10,
        1.15,
        1.10,
        1.05,
        1.05,
        1.10,
        1.20,
        1.35,
        1.50,
        1.55,
        1.40,
        1.00,
        0.60,
    ]
)
WEEKDAY_FACTORS = np.array([0.92, 0.90, 0.92, 0.96, 1.05, 1.22, 1.16])  # Monday .. Sunday
NEVER = 10**9  # churn day of users who never churn


def yearly_factor(day: dt.date) -> float:
    """Seasonality over the year: a sinusoid peaking early December (late-Nov/Dec shopping)."""
    doy = day.timetuple().tm_yday
    return 1.0 + 0.35 * math.cos(2 * math.pi * (doy - 340) / 365.25)


@dataclass
class World:
    start: dt.date
    days: int
    # categories
    category_names: np.ndarray  # (K,) str
    # brands
    brand_names: np.ndarray  # (B,) str
    brand_category: np.ndarray  # (B,) int
    # products
    product_ids: np.ndarray  # (P,) str, p000123
    product_names: list[str]
    product_category: np.ndarray  # (P,) int
    product_brand: np.ndarray  # (P,) int
    base_cents: np.ndarray  # (P,) int64
    launch_day: np.ndarray  # (P,) int, day offset from start (negative = before)
    popularity: np.ndarray  # (P,) float, Zipf-like
    # users
    user_signup: np.ndarray  # (U,) int day offset
    user_churn: np.ndarray  # (U,) int day offset (NEVER = stays)
    user_intensity: np.ndarray  # (U,) float
    user_buy: np.ndarray  # (U,) float, purchase propensity multiplier
    user_prefs: np.ndarray  # (U, K) float, Dirichlet category preferences
    fraud_accounts: np.ndarray  # user indices reserved for fraudsters' brand-new accounts
    # marketing
    ad_spend: np.ndarray  # (days, K) float, 2 decimals
    promotions: list[tuple[int, int, int, float]]  # (product, start day, end day inclusive, discount)
    discount: np.ndarray  # (days, P) float32, active discount per day and product
    # tastes (build_tastes): small groups of products inside a category that the same customers
    # keep coming back to (a style, a series, a brand line): what item-to-item recommenders learn
    product_taste: np.ndarray | None = None  # (P,) int
    user_taste: np.ndarray | None = None  # (U,) int, each customer's favourite taste
    # profiles (synth/profiles.py): the grocery regulars' staples, and each day's activity weight of a
    # cohort shop (its daily event targets follow the customers still there)
    staples: object | None = None  # profiles.Staples
    activity: np.ndarray | None = None  # (days,) float

    @property
    def n_categories(self) -> int:
        return len(self.category_names)

    @property
    def n_products(self) -> int:
        return len(self.product_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_signup)

    def day(self, offset: int) -> dt.date:
        return self.start + dt.timedelta(days=int(offset))

    def price_cents(self, day: int) -> np.ndarray:
        """Effective price of every product on a day: the base price minus the active promotion."""
        return np.round(self.base_cents * (1.0 - self.discount[day].astype(np.float64))).astype(np.int64)


def _brand_names(rng: np.random.Generator, count: int) -> list[str]:
    pool = [h + t for h in _BRAND_HEADS for t in _BRAND_TAILS]
    chosen = rng.choice(len(pool), size=min(count, len(pool)), replace=False)
    names = [pool[i] for i in chosen]
    while len(names) < count:  # more brands than syllable pairs: number the rest
        names.append(f"{pool[len(names) % len(pool)]}{len(names)}")
    return names


def build_world(config: GeneratorConfig, rng: np.random.Generator) -> World:
    days = config.days
    n_events = config.events

    # categories and brands
    n_cat = int(rng.integers(8, len(CATEGORY_SPECS) + 1))
    cat_pick = np.sort(rng.choice(len(CATEGORY_SPECS), size=n_cat, replace=False))
    specs = [CATEGORY_SPECS[i] for i in cat_pick]
    category_names = np.array([s[0] for s in specs])
    brands_per_cat = rng.integers(3, 11, size=n_cat)
    all_brands = _brand_names(rng, int(brands_per_cat.sum()))
    brand_category = np.repeat(np.arange(n_cat), brands_per_cat)
    brand_names = np.array(all_brands)
    brand_premium = rng.normal(0.0, 0.25, size=len(brand_names))
    brand_weight = rng.pareto(1.5, size=len(brand_names)) + 0.2

    # products
    n_products = int(min(max(n_events // 200, 50), 20_000)) if config.products is None else int(config.products)
    cat_share = rng.dirichlet(np.full(n_cat, 3.0))
    product_category = np.concatenate(
        [np.arange(n_cat).repeat(2), rng.choice(n_cat, size=n_products - 2 * n_cat, p=cat_share)]
    )
    product_category = product_category[rng.permutation(n_products)]
    product_brand = np.empty(n_products, dtype=np.int64)
    for c in range(n_cat):
        members = np.flatnonzero(product_category == c)
        cat_brands = np.flatnonzero(brand_category == c)
        w = brand_weight[cat_brands] / brand_weight[cat_brands].sum()
        product_brand[members] = rng.choice(cat_brands, size=len(members), p=w)
    mu = np.array([s[1] for s in specs])[product_category] + brand_premium[product_brand]
    sigma = np.array([s[2] for s in specs])[product_category]
    price = np.clip(rng.lognormal(mu, sigma), 1.0, 15_000.0)
    base_cents = (np.floor(price) * 100 + 99).astype(np.int64)  # x.99 price points
    launch_day = np.where(
        rng.random(n_products) < 0.88,
        -rng.integers(30, 730, size=n_products),
        rng.integers(0, days, size=n_products),
    )
    ranks = rng.permutation(n_products) + 1
    popularity = ranks**-1.05 * rng.lognormal(0.0, 0.3, size=n_products)
    width = max(6, len(str(n_products)))
    product_ids = np.array([f"p{i:0{width}d}" for i in range(1, n_products + 1)])
    nouns = [s[3] for s in specs]
    adj = rng.integers(0, len(_ADJECTIVES), size=n_products)
    noun = rng.integers(0, 1000, size=n_products)
    product_names = [
        f"{brand_names[product_brand[i]]} {_ADJECTIVES[adj[i]]} "
        f"{nouns[product_category[i]][noun[i] % len(nouns[product_category[i]])]} {i + 1}"
        for i in range(n_products)
    ]

    # users: ~35 events per user over the run
    n_users = int(max(200, n_events // 35))
    existing = rng.random(n_users) < 0.55
    user_signup = np.where(existing, -rng.integers(1, 540, size=n_users), rng.integers(0, days, size=n_users))
    lifetime = rng.exponential(70.0, size=n_users)
    loyal = rng.random(n_users) < 0.2
    user_churn = np.where(loyal, NEVER, np.maximum(user_signup, 0) + np.ceil(lifetime).astype(np.int64))
    user_intensity = rng.lognormal(0.0, 0.8, size=n_users)
    user_buy = np.clip(rng.lognormal(0.0, 0.5, size=n_users), 0.2, 4.0)
    user_prefs = rng.dirichlet(0.6 * n_cat * cat_share + 0.05, size=n_users)
    # brand-new accounts that fraudsters will use: they have no legitimate activity
    expected_fraud_accounts = n_events * 0.03 * config.fraud_rate
    n_fraud_accounts = min(int(expected_fraud_accounts) + 10, n_users // 10)
    fraud_accounts = rng.choice(n_users, size=n_fraud_accounts, replace=False)
    user_intensity[fraud_accounts] = 0.0

    # daily ad spend per category: budget x weekday x season x campaign bursts x noise
    budget = rng.lognormal(np.log(400.0), 0.6, size=n_cat) * (0.5 + 4 * cat_share)
    dates = [config.start + dt.timedelta(days=d) for d in range(days)]
    weekday = np.array([WEEKDAY_FACTORS[d.weekday()] for d in dates])
    season = np.array([yearly_factor(d) for d in dates])
    campaign = np.ones((days, n_cat))
    for c in range(n_cat):
        for _ in range(int(rng.poisson(days / 30.0)) + 1):
            first = int(rng.integers(0, days))
            campaign[first : first + int(rng.integers(4, 11)), c] *= rng.uniform(1.6, 2.6)
    noise = rng.lognormal(0.0, 0.15, size=(days, n_cat))
    ad_spend = np.round(budget[None, :] * weekday[:, None] * season[:, None] * campaign * noise, 2)

    # promotions: ~15% of products get one or two non-overlapping promotions
    discount = np.zeros((days, n_products), dtype=np.float32)
    promotions: list[tuple[int, int, int, float]] = []
    promo_products = np.sort(rng.choice(n_products, size=max(1, int(0.15 * n_products)), replace=False))
    discount_steps = np.round(np.arange(0.05, 0.501, 0.05), 2)
    step_weights = np.linspace(2.0, 0.5, len(discount_steps))
    step_weights /= step_weights.sum()
    for p in promo_products:
        n_promos = 1 + int(rng.random() < 0.4)
        segment = days / n_promos
        for k in range(n_promos):
            length = int(min(rng.integers(3, 15), max(1, int(segment))))
            lo = int(k * segment)
            hi = max(lo, int((k + 1) * segment) - length)
            first = int(rng.integers(lo, hi + 1))
            last = min(first + length - 1, days - 1)
            pct = float(rng.choice(discount_steps, p=step_weights))
            discount[first : last + 1, p] = pct
            promotions.append((int(p), first, last, pct))

    return World(
        start=config.start,
        days=days,
        category_names=category_names,
        brand_names=brand_names,
        brand_category=brand_category,
        product_ids=product_ids,
        product_names=product_names,
        product_category=product_category,
        product_brand=product_brand,
        base_cents=base_cents,
        launch_day=launch_day,
        popularity=popularity,
        user_signup=user_signup,
        user_churn=user_churn,
        user_intensity=user_intensity,
        user_buy=user_buy,
        user_prefs=user_prefs,
        fraud_accounts=fraud_accounts,
        ad_spend=ad_spend,
        promotions=promotions,
        discount=discount,
    )


TASTE_SIZE = 12  # products per taste


def build_tastes(world: World, rng: np.random.Generator) -> None:
    """Split each category's products at random into tastes of about TASTE_SIZE products and give
    every customer a favourite taste: a category drawn from their preferences, then one of its
    tastes at random. From its own random stream, so the rest of the world stays as it was."""
    product_taste = np.empty(world.n_products, dtype=np.int64)
    first_taste = np.zeros(world.n_categories + 1, dtype=np.int64)
    next_taste = 0
    for c in range(world.n_categories):
        members = rng.permutation(np.flatnonzero(world.product_category == c))
        groups = max(1, len(members) // TASTE_SIZE)
        product_taste[members] = next_taste + np.arange(len(members)) % groups
        first_taste[c] = next_taste
        next_taste += groups
        first_taste[c + 1] = next_taste
    cum = np.cumsum(world.user_prefs, axis=1)
    category = (cum < (rng.random(world.n_users) * cum[:, -1])[:, None]).sum(axis=1)
    category = np.minimum(category, world.n_categories - 1)
    sizes = first_taste[category + 1] - first_taste[category]
    world.product_taste = product_taste
    world.user_taste = first_taste[category] + (rng.random(world.n_users) * sizes).astype(np.int64)
