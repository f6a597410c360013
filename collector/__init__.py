"""Sources: read Prometheus-format pages (dcgm-exporter, vLLM, SGLang, TGI, NIM) and write rows.

scrape.py      HTTP fetch of a target's page, with size cap and timeout
exposition.py  page text -> samples, fast path that caches series keys
canonical.py   which source metric means which canonical column (data in metric_map.csv)
ingest.py      samples -> series and sample rows for the store
service.py     the scheduled collector: scrape, write, roll up, retain
"""
