"""The Streamlit dashboard. It reads only through ``queries`` and holds no connection across reruns."""
