# syntax=docker/dockerfile:1
# The metalstream control plane image: `docker build -t metalstream .`
#
# The first stage installs metalstream and its runtime dependencies (not the dev extras) into a
# virtualenv; the second copies only that virtualenv onto a clean base, so no compiler, pip
# cache or source tree ships. The process runs as an unprivileged user and writes nothing to
# its root filesystem (bytecode is compiled at build time), so it runs with
# readOnlyRootFilesystem. Both stages use the same base so the virtualenv's interpreter link holds.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/metalstream
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY projections ./projections
COPY adapters ./adapters
COPY metalstream ./metalstream
RUN /opt/metalstream/bin/pip install . \
    && /opt/metalstream/bin/python -m compileall -q /opt/metalstream/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="metalstream" \
      org.opencontainers.image.description="Event-sourced bare-metal provisioning for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 65532 metalstream \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin metalstream
COPY --from=build /opt/metalstream /opt/metalstream
ENV PATH=/opt/metalstream/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    METALSTREAM_LOG_FORMAT=json
USER 65532:65532
# /healthz, /readyz and /metrics (metalstream.observability.health.ObservabilitySettings.port)
EXPOSE 9440
ENTRYPOINT ["metalstream", "run"]
