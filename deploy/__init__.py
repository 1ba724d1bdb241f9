"""Install and deployment helpers: the llama-server build (llama_server.py), Docker files."""
