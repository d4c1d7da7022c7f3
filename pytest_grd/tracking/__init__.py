"""MLflow tracking: one run per case, a parent run per hypothesis and session."""
