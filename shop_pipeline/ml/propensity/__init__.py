"""Purchase propensity and customer value: will a customer buy in the next h days (churn risk =
1 - p), how many orders and how much spend.

data: windows and labelled frames; candidates: RFM logistic, BG/NBD, MBG/NBD (bgnbd, mbgnbd),
calibrated boosting, value models (gamma_gamma); train: the run; evaluate, metrics: held-out
measurements; score: customer scores and segments; report: plots and tables.
"""
