"""How a vLLM pool's replicas are started: one declaration for ``tollgate pool serve`` on a host and
for the Helm chart on Kubernetes, which turns the same fields into the same server arguments."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Positive = Annotated[int, msgspec.Meta(ge=1)]


class VLLMLaunch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    model: str  # a local folder of weights (nothing is downloaded at run time) or, on Kubernetes, a mounted path
    served_model_name: str | None = None  # what the pool's ``model`` field in deployments must name
    gpus_per_replica: Annotated[int, msgspec.Meta(ge=0)] = 1  # 0: the CPU build of vLLM
    tensor_parallel_size: Positive | None = None  # default: one shard per GPU of the replica
    quantization: Literal["awq", "awq_marlin", "gptq", "gptq_marlin", "fp8", "bitsandbytes"] | None = None
    prefix_caching: bool = True
    scheduling: Literal["fcfs", "priority"] = "fcfs"  # priority: requests' ``priority`` field orders the queue
    max_model_len: Positive | None = None
    dtype: str = "auto"
    gpu_memory_utilization: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    enforce_eager: bool = False
    extra_args: list[str] = []
    # vLLM's sleep mode: /sleep and /wake_up (a dev-mode endpoint, hence VLLM_SERVER_DEV_MODE=1).
    # Set by the pool's own ``sleep_mode``.
    sleep_mode: bool = False
    # Host only: the interpreter that has vLLM (its own virtual environment), and its environment.
    python: str | None = None
    env: dict[str, str] = {}
    # Kubernetes only: replicas to start with (an autoscaler moves it), and the server image.
    replicas: Positive = 1
    image: str = "vllm/vllm-openai:v0.11.0"

    def __post_init__(self) -> None:
        shards = self.tensor_parallel_size or max(self.gpus_per_replica, 1)
        if self.gpus_per_replica and shards > self.gpus_per_replica:
            raise ValueError(
                f"tensor_parallel_size {shards} needs at least as many GPUs per replica ({self.gpus_per_replica})"
            )


def server_args(launch: VLLMLaunch) -> list[str]:
    """The OpenAI server's arguments, less host and port (the chart renders exactly these)."""
    args = ["--model", launch.model]
    if launch.served_model_name:
        args += ["--served-model-name", launch.served_model_name]
    args += ["--tensor-parallel-size", str(launch.tensor_parallel_size or max(launch.gpus_per_replica, 1))]
    if launch.quantization:
        args += ["--quantization", launch.quantization]
    args.append("--enable-prefix-caching" if launch.prefix_caching else "--no-enable-prefix-caching")
    args += ["--scheduling-policy", launch.scheduling, "--dtype", launch.dtype]
    if launch.max_model_len:
        args += ["--max-model-len", str(launch.max_model_len)]
    if launch.gpu_memory_utilization:
        args += ["--gpu-memory-utilization", str(launch.gpu_memory_utilization)]
    if launch.enforce_eager:
        args.append("--enforce-eager")
    if launch.sleep_mode:
        args.append("--enable-sleep-mode")
    return args + launch.extra_args


def server_env(launch: VLLMLaunch) -> dict[str, str]:
    """The servers' environment beyond the host's: the launch's own, and what sleep mode needs."""
    return {**launch.env, "VLLM_SERVER_DEV_MODE": "1"} if launch.sleep_mode else dict(launch.env)


def visible_gpus(launch: VLLMLaunch, replica: int) -> str | None:
    """``CUDA_VISIBLE_DEVICES`` for one replica on a host: consecutive GPUs, none shared."""
    if launch.gpus_per_replica == 0:
        return None
    first = replica * launch.gpus_per_replica
    return ",".join(str(gpu) for gpu in range(first, first + launch.gpus_per_replica))
