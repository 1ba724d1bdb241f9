"""FastAPI + LangServe: only wiring; the work lives in graph/, loaders/ and core/."""
