"""Product recommendations: the top-20 products to show each customer.

data: interaction matrices and the temporal split; candidates: most-popular, category popularity,
item-kNN, EASE; train: tuning, measuring and refitting the best (evaluate, metrics: ranking metrics
at K); score: blocked top-k lists with fallbacks; report: plots and tables.
"""
