"""Stand-in for ``comfy.model_management`` as ComfyUI 0.8.0 runs with ``--cpu``.

Device choice, fp16 policy, module sizes, the interrupt flag (``throw_exception_if_processing_
interrupted`` raises once and clears it, as ComfyUI's does) and ``free_memory`` behave as in
ComfyUI on a CPU-only machine, where no model is ever unloaded for memory. Calls to
``free_memory`` and ``soft_empty_cache`` are recorded so tests can see the nodes cooperate.
"""

import threading

import torch

free_memory_calls: list[tuple[float, torch.device]] = []
empty_cache_calls = 0


class InterruptProcessingException(Exception):
    pass


_interrupt_lock = threading.RLock()
_interrupt = False


def get_torch_device():
    return torch.device("cpu")


def unet_offload_device():
    return torch.device("cpu")


def intermediate_device():
    return torch.device("cpu")


def is_device_cpu(device) -> bool:
    return getattr(device, "type", device) == "cpu"


def should_use_fp16(device=None, model_params=0, prioritize_performance=True, manual_cast=False) -> bool:
    if device is not None and is_device_cpu(device):
        return False
    return False  # --cpu: ComfyUI's cpu_mode() answers False as well


def module_size(module) -> int:
    return sum(t.nbytes for t in module.state_dict().values())


def minimum_inference_memory() -> float:
    return 1024 * 1024 * 1024 * 0.8 + 400 * 1024 * 1024


def free_memory(memory_required, device, keep_loaded=()):
    free_memory_calls.append((memory_required, device))
    return []


def soft_empty_cache(force=False) -> None:
    global empty_cache_calls
    empty_cache_calls += 1


def interrupt_current_processing(value=True) -> None:
    global _interrupt
    with _interrupt_lock:
        _interrupt = value


def processing_interrupted() -> bool:
    with _interrupt_lock:
        return _interrupt


def throw_exception_if_processing_interrupted() -> None:
    global _interrupt
    with _interrupt_lock:
        if _interrupt:
            _interrupt = False
            raise InterruptProcessingException()
