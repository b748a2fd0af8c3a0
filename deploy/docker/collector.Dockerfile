# syntax=docker/dockerfile:1
# The Upkeep collector. Build from the repository root:
#   docker build -f deploy/docker/collector.Dockerfile -t upkeep-collector .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY collector ./collector
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[collector,postgres]"

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/upkeep --create-home upkeep
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "upkeep[collector,postgres]" \
    && rm -rf /wheels
ENV UPKEEP_DATA_DIR=/var/lib/upkeep \
    UPKEEP_HOST=0.0.0.0 \
    UPKEEP_PORT=8427 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/upkeep
VOLUME ["/var/lib/upkeep"]
EXPOSE 8427
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8427/healthz', timeout=4)"]
ENTRYPOINT ["upkeep"]
CMD ["serve"]
