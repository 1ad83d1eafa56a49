# The nbmf image: Ray 2.60 with nbmf (the library, the jobs and the Serve app) installed.
#   docker build -t <registry>/nbmf:<tag> .                                          (CPU)
#   docker build -t <registry>/nbmf:<tag>-gpu --build-arg BASE=rayproject/ray:2.60.0-py311-gpu \
#                --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .      (CUDA)
# cluster/rayservice.yaml and cluster/rayjob.yaml run it (set their image: to what you pushed).
ARG BASE=rayproject/ray:2.60.0-py311-cpu
FROM ${BASE}
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

WORKDIR /home/ray/nbmf
# torch first, from the index that matches the base (a plain `pip install .` would pull the CUDA build)
RUN pip install --no-cache-dir "torch==2.13.0" --index-url "${TORCH_INDEX}"
COPY --chown=ray:users pyproject.toml README.md ./
COPY --chown=ray:users nbmf ./nbmf
COPY --chown=ray:users jobs ./jobs
COPY --chown=ray:users serve ./serve
COPY --chown=ray:users configs ./configs
RUN pip install --no-cache-dir . && python -c "import nbmf, jobs.pipeline, serve.app"
# the codec's kernel compiled into numba's cache (beside the installed source, else the user's; about 3 min), so that no replica
# waits ~40 s for the compiler before its first record; a node whose CPU model differs from the build machine's
# compiles once more on its first load (numba keeps code per CPU model)
RUN nbmf compile-kernel

# primed model states, kept per node (mount a node-local volume here to keep them across pod restarts)
ENV NBMF_PRIMED_CACHE=/home/ray/.cache/nbmf/primed \
    RAY_USAGE_STATS_ENABLED=0
