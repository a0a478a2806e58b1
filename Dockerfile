# sesmon container image: docker build -t sesmon .
# Runs as a non-root user with a read-only root filesystem; state lives on the /var/lib/sesmon
# volume and temporary files (the demo's embedded AWS among them) on a tmpfs at /tmp.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/sesmon
COPY pyproject.toml README.md ./
COPY sesmon ./sesmon
# Compile bytecode now: at run time the root filesystem is read-only.
RUN /opt/sesmon/bin/pip install --no-cache-dir . \
 && /opt/sesmon/bin/python -m compileall -q /opt/sesmon \
 && /opt/sesmon/bin/sesmon version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="sesmon" \
      org.opencontainers.image.description="Deliverability monitor for Amazon SES" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 sesmon \
 && useradd --system --uid 10001 --gid sesmon --home-dir /var/lib/sesmon --no-create-home \
      --shell /usr/sbin/nologin sesmon \
 && mkdir -p /var/lib/sesmon /etc/sesmon \
 && chown sesmon:sesmon /var/lib/sesmon
COPY --from=build /opt/sesmon /opt/sesmon
ENV PATH=/opt/sesmon/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/sesmon \
    TMPDIR=/tmp \
    SESMON_CONFIG=/etc/sesmon/sesmon.yaml
# Relative paths in the config (state.path defaults to sesmon-state.db) land on the volume.
WORKDIR /var/lib/sesmon
VOLUME ["/var/lib/sesmon"]
USER 10001:10001
EXPOSE 9469
# /healthz never depends on AWS; slim images have no curl, so ask with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9469/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["sesmon"]
CMD ["run"]
