"""FastAPI + LangServe: only wiring; the work lives in classroom/, views/, graph/, loaders/ and core/."""
