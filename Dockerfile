# memmoat: collector, dashboard and the simulated fleet in one image (docker-compose.yml runs them).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p memmoat collector store queries dashboard reports simulator \
    && touch memmoat/__init__.py \
    && pip install . \
    && pip uninstall -y memmoat
COPY memmoat memmoat
COPY collector collector
COPY store store
COPY queries queries
COPY dashboard dashboard
COPY reports reports
COPY simulator simulator
RUN pip install --no-deps . && rm -rf build *.egg-info

# Not root; the store, spool and reports live in /data (a volume shared with the dashboard).
RUN useradd --system --uid 10001 --create-home --home-dir /home/memmoat --shell /usr/sbin/nologin memmoat \
    && mkdir -p /data /etc/memmoat && chown memmoat /data
USER memmoat
WORKDIR /data
VOLUME /data
ENV MEMMOAT_CONFIG=/etc/memmoat/memmoat.toml
EXPOSE 8501
CMD ["memmoat", "collect"]
