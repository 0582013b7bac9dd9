# syntax=docker/dockerfile:1
# riskrelay image: one image for every component; the sub-command picks the role
# (worker by default; api, sandbox, topics create, ... via the command).
#
#   docker build -t riskrelay .
#   docker run --rm riskrelay --help
#
# The wheel carries the Avro contracts (schemas/ -> riskrelay/_avsc, hatch force-include).
# noida-db (the embedded dev broker, a hard dependency) ships manylinux x86_64 wheels only,
# so the image is linux/amd64; arm64 hosts run it emulated (docker-compose.yml pins it).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY src ./src
# The package and all its dependencies as wheels; the runtime stage installs only these.
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels riskrelay \
    && groupadd --system --gid 10001 riskrelay \
    && useradd --system --uid 10001 --gid riskrelay --home-dir /app --create-home \
       --shell /usr/sbin/nologin riskrelay \
    && install -d -o riskrelay -g riskrelay /var/lib/riskrelay
# /var/lib/riskrelay: the API's view store (RISKRELAY_API_VIEW_DIR). Created here, owned
# by the runtime user, so a volume mounted on it starts with that owner.
WORKDIR /app
USER 10001:10001
# 8080 API, 9464 worker metrics, 8090-8093 provider sandboxes
EXPOSE 8080 9464 8090 8091 8092 8093
ENTRYPOINT ["riskrelay"]
CMD ["worker"]
