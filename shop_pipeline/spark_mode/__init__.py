"""The Spark side of the pipeline's steps, and the one place an asset's step is chosen by engine
(`steps.py`): assets ask for their step and call it, whatever the engine (no Dagster here)."""
