# syntax=docker/dockerfile:1
# Promotion Gate: the image Kargo verification jobs, GitLab jobs and `docker run` use.
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" -t promotion-gate .
# Runs as uid 10001 with a read-only root filesystem; writes only to /tmp or paths you pass.
# GitLab: set `image: {name: ..., entrypoint: [""]}` because the ENTRYPOINT is the CLI (README, "GitLab CI").

# Pinned by digest (the multi-platform index of python:3.12-slim-bookworm), so two builds of one tag
# start from the same base; Dependabot's docker ecosystem moves it (.github/dependabot.yml).
ARG PYTHON_IMAGE=python:3.12-slim-bookworm@sha256:a116514e19457bcb7af7efe9c3dd0b9b71e85b317694e7882a1c52aa15a78134

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# tini-static: a PID 1 that forwards SIGTERM to gate and reaps children, copied alone into the runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/*
COPY . /src
# The same two steps tests/test_ship_image.py runs: a wheel of this tree, installed into a fresh venv, its
# dependencies at the versions CI tested (requirements/image.txt, the constraints .ci/run installs with).
RUN pip wheel --no-deps --wheel-dir /wheels /src \
    && python -m venv --without-pip /opt/gate \
    && pip --python /opt/gate/bin/python install --constraint /src/requirements/image.txt /wheels/*.whl

FROM ${PYTHON_IMAGE}
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="promotion-gate" \
      org.opencontainers.image.description="Verify a Kargo stage level by level, and promote through the Kargo API." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/promotion-gate/promotion-gate" \
      org.opencontainers.image.documentation="https://github.com/promotion-gate/promotion-gate/blob/main/README.md" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/gate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
COPY --from=build /usr/bin/tini-static /usr/bin/tini
COPY --from=build /opt/gate /opt/gate
RUN groupadd --gid 10001 gate \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin gate
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "gate"]
CMD ["--help"]
