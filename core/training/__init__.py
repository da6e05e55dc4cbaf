"""Training the quality prompts and the cross-attention LoRA on MOS data (METHOD 2).

One module per concept: :mod:`.config` (TrainConfig, the knobs), :mod:`.model` (the backbone with
unmerged LoRA and the text encoder in the graph), :mod:`.schedule` (data order and per-image draws
from the seed), :mod:`.latents` (images to latents, optional cache), :mod:`.recovery` (the resume
file), :mod:`.distributed` (torchrun), :mod:`.log` (metrics log and curves), :mod:`.loop` (the loop).
Nothing here is imported by the scorer.
"""

from .config import TrainConfig
from .loop import (
    BEST_DIR, CURVES_FILE, METRICS_FILE, RECOVERY_FILE, VALIDATION_FILE, RunPlan, StepInfo, TrainData,
    TrainingSetupError, TrainResult, plan_run, train, train_step,
)
from .latents import LatentSource, TrainingImageError, unreadable_images
from .model import TrainableModel, build_model, parameter_counts, trainable_parameters
from .recovery import RecoveryError

__all__ = [
    "TrainConfig", "TrainData", "train", "train_step", "plan_run", "RunPlan", "StepInfo", "TrainResult",
    "TrainingSetupError", "TrainingImageError", "RecoveryError", "TrainableModel", "build_model",
    "trainable_parameters", "parameter_counts", "LatentSource", "unreadable_images",
    "RECOVERY_FILE", "BEST_DIR", "METRICS_FILE", "CURVES_FILE", "VALIDATION_FILE",
]
