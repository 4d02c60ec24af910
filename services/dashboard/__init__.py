"""The operator dashboard: a Streamlit page on top of the HTTP API (no exchange logic here)."""
