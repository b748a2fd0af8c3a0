# syntax=docker/dockerfile:1
# The Upkeep agent in a container: meant for a site's SNMP/network poller. Host checks
# (cpu, disk, …) see the container, not the machine — install the agent on servers with
# `upkeep-agent install-service` instead. Build from the repository root:
#   docker build -f deploy/docker/agent.Dockerfile -t upkeep-agent .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY collector ./collector
# No extras: the agent's dependencies only.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10002 --user-group --home-dir /var/lib/upkeep-agent --create-home upkeep-agent
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels upkeep && rm -rf /wheels
ENV UPKEEP_AGENT_STATE_DIR=/var/lib/upkeep-agent \
    PYTHONUNBUFFERED=1
USER 10002:10002
VOLUME ["/var/lib/upkeep-agent"]
ENTRYPOINT ["upkeep-agent"]
CMD ["run", "--config", "/etc/upkeep/agent.yaml"]
