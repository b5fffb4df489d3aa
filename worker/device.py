"""Device and dtype policy, in one place: ATELIER_DEVICE -> (device, dtype)."""

from __future__ import annotations

import torch


def resolve_device(setting: str = "auto") -> tuple[str, torch.dtype]:
    """`auto` picks CUDA (bf16 where supported, else fp16), then Apple's MPS, then the CPU.

    The CPU stays in fp32: bf16 is slower there at small batches and changes sampled text.
    """
    setting = (setting or "auto").lower()
    if setting == "auto":
        if torch.cuda.is_available():
            setting = "cuda"
        elif torch.backends.mps.is_available():
            setting = "mps"
        else:
            setting = "cpu"
    if setting.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"ATELIER_DEVICE={setting} but CUDA is not available here")
        index = torch.device(setting).index or 0
        bf16 = torch.cuda.is_bf16_supported() if index == torch.cuda.current_device() else True
        return setting, torch.bfloat16 if bf16 else torch.float16
    if setting == "mps":
        return setting, torch.float16
    return "cpu", torch.float32
