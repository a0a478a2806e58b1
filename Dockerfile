# sesmon container image: docker build -t sesmon .
# Runs as a non-root user with a read-only root filesystem; state lives on the /var/lib/sesmon
# volume and temporary files on a tmpfs at /tmp.
# Two images: the default (last) target is production and has no demo dependencies; `--target demo`
# adds the demo extra (moto, the embedded AWS) for `sesmon demo` and the compose stack.
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
 && /opt/sesmon/bin/sesmon --version

# The production environment plus the demo extra.
FROM build AS build-demo
RUN /opt/sesmon/bin/pip install --no-cache-dir ".[demo]" \
 && /opt/sesmon/bin/python -m compileall -q /opt/sesmon

# What both images share: the user, the directories, the environment and the health check.
FROM ${PYTHON_IMAGE} AS base
LABEL org.opencontainers.image.title="sesmon" \
      org.opencontainers.image.description="Deliverability monitor for Amazon SES" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 sesmon \
 && useradd --system --uid 10001 --gid sesmon --home-dir /var/lib/sesmon --no-create-home \
      --shell /usr/sbin/nologin sesmon \
 && mkdir -p /var/lib/sesmon /etc/sesmon \
 && chown sesmon:sesmon /var/lib/sesmon
ENV PATH=/opt/sesmon/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/sesmon \
    TMPDIR=/tmp \
    SESMON_CONFIG=/etc/sesmon/sesmon.yaml
# Relative paths in the config (state.path defaults to sesmon-state.db) land on the volume.
WORKDIR /var/lib/sesmon
VOLUME ["/var/lib/sesmon"]
EXPOSE 9469
# /healthz never depends on AWS. `sesmon healthcheck` reads the same config as `sesmon run`
# ($SESMON_CONFIG), so the check follows server.listen; slim images have no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["sesmon", "healthcheck", "--timeout", "4"]
ENTRYPOINT ["sesmon"]

# docker build --target demo -t sesmon:demo .  (the demo writes its own config under $HOME)
FROM base AS demo
COPY --from=build-demo /opt/sesmon /opt/sesmon
# The demo's generated config is the one to check, wherever it listens.
ENV SESMON_CONFIG=/var/lib/sesmon/sesmon-demo/sesmon.yaml
USER 10001:10001
CMD ["demo", "--listen", "0.0.0.0:9469"]

# The default target: production, without the demo extra.
FROM base AS production
COPY --from=build /opt/sesmon /opt/sesmon
USER 10001:10001
CMD ["run"]
