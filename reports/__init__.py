"""Daily reports: one dated folder per day with HTML, CSV and JSON, built from named queries."""
