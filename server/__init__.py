"""HTTP API for the ledger (FastAPI on uvicorn): parses requests, calls the library, presents answers."""
