"""Streamlit board reading the HTTP API (to come)."""
