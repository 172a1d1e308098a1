"""The online prediction API (shop-pipeline serve) and the serving snapshot it answers from."""
