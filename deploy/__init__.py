"""Install and deployment helpers: the llama-server build (llama_server.py), the model server's command line
(llm_server.py), Docker files."""
