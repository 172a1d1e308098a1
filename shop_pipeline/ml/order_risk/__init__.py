"""Order risk (fraud): score each order and flag the riskiest within an alert budget.

data: labels and windows; candidates: the z-score rule, isolation forest, boosted classifier;
train: evaluate them (evaluate, metrics) and refit the served one; score: risk scores and
explanations; report: plots and tables.
"""
