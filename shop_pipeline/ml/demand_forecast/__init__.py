"""Demand forecast: units per product per day over the next 14 days, with an 80% interval.

data: the product x day panel and feature rows; candidates: seasonal-naive, linear, boosted
challenger and their intervals; train: fitting; evaluate: the rolling-origin backtest; score: the
served forecast; report: plots.
"""
