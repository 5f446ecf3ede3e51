# kubereach as a container job: run it inside the network that has the problem.
#
#   docker build -t kubereach .
#   docker run --rm -v "$HOME/.kube:/home/kubereach/.kube:ro" kubereach diagnose
#   docker run --rm --network host -v ... kubereach diagnose --format json   # the host's view
#
# It runs as an unprivileged user (uid 10001). The packet-level checks (SYN probe, TCP
# traceroute, path MTU) need raw sockets, which a non-root process does not get from
# --cap-add alone: run them as root with NET_RAW (`--user 0 --cap-add NET_RAW`); without
# them they are skipped and the report says so. No HEALTHCHECK: this is a job that runs
# once and exits 0 or 1, not a service.
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY packaging/install-venv.sh ./packaging/
COPY agent ./agent
COPY probes ./probes
RUN sh packaging/install-venv.sh /src /opt/kubereach

# The same base image: the venv's python links to /usr/local/bin/python3 of this image.
FROM python:${PYTHON_VERSION}-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="kubereach" \
      org.opencontainers.image.description="Explains why kubectl can or cannot reach a managed Kubernetes API server" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/python:${PYTHON_VERSION}-slim"
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/kubereach kubereach
COPY --from=build /opt/kubereach /opt/kubereach
ENV PATH=/opt/kubereach/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001
WORKDIR /home/kubereach
ENTRYPOINT ["kubereach"]
CMD ["diagnose"]
