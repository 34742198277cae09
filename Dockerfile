# syntax=docker/dockerfile:1
# Temper's one image: the node agent, the scheduler extender and the overcommit webhook
# (`temper agent|extender|webhook ...`; the Helm chart sets the command per component).
#
# The build runs the same scripts CI runs, so CI proves every step this file takes:
#   scripts/setup.sh     Debian packages (clang, llvm, libelf, bpftool's deps ...) and
#                        `pip install -e .[dev]`
#   scripts/build-bpf.sh compiles the sched_ext scheduler to bpf/build/temper.bpf.o
# The runtime stage installs the package without dev extras, as the wheel the build stage built
# (with the extender's C extension, extender/_fastreply.c: the slim image has no compiler),
# and bpftool.
#
# Debian trixie, not bookworm: bookworm's bpftool 7.1 / libbpf 1.1 cannot register a
# `.struct_ops.link` scheduler; trixie's can.
#
#   docker build -t <your-registry>/temper:0.1.0 .
#   helm install infera charts/infera -n infera --create-namespace \
#     --set image.repository=<your-registry>/temper

ARG PYTHON_IMAGE=python:3.11-slim-trixie

# ---- build: the BPF object -------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY . .
RUN bash scripts/setup.sh \
 && bash scripts/build-bpf.sh \
 && test -s bpf/build/temper.bpf.o \
 && python3 -m pip wheel --no-deps --no-cache-dir --disable-pip-version-check -w /wheels .

# ---- runtime: Python, the package, bpftool, the BPF object --------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bpftool \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /tmp/wheels
RUN python3 -m pip install --no-cache-dir --disable-pip-version-check /tmp/wheels/temper-*.whl \
 && rm -rf /tmp/wheels \
 && python3 -c 'import extender._fastreply' \
 && temper --version
# The agent's default agent.bpfObject (temper/config.py).
COPY --from=build /src/bpf/build/temper.bpf.o /usr/lib/temper/temper.bpf.o

LABEL org.opencontainers.image.title="temper" \
      org.opencontainers.image.description="Kernel-enforced CPU QoS for Kubernetes (sched_ext)" \
      org.opencontainers.image.licenses="Apache-2.0"
# The agent runs as root (it loads BPF); the chart runs the extender and webhook as 65532.
ENTRYPOINT ["temper"]
CMD ["--help"]
