# kubereach as a container job: run it inside the network that has the problem.
#
#   docker build -t kubereach .
#   docker run --rm -v "$HOME/.kube:/home/kubereach/.kube:ro" kubereach diagnose
#   docker run --rm --network host -v ... kubereach diagnose --format json   # the host's view
#
# The packet-level checks (SYN probe, TCP traceroute, path MTU) need raw sockets: run as
# root with NET_RAW (`--user 0 --cap-add NET_RAW`); without them they are skipped and the
# report says so.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY probes ./probes
RUN pip install . \
    && useradd --create-home --uid 10001 kubereach \
    && rm -rf /src

USER kubereach
WORKDIR /home/kubereach
ENTRYPOINT ["kubereach"]
CMD ["diagnose"]
