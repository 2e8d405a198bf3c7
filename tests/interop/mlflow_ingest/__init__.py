"""MLflow ingest against a real MLflow tracking store."""
