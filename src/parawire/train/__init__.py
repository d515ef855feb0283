"""Training and evaluation: named recipes, a seeded resumable loop, safetensors checkpoints.

Python API::

    from parawire.data import load_dataset
    from parawire.nn import ModelRef
    from parawire.train import create_recipe, train_model
    splits = load_dataset("digits")
    spec = parawire.generate("dp", seed=0)
    result = train_model(ModelRef.from_spec(spec), splits, create_recipe("modern"), epochs=5,
                         out=Path("runs/dp0"))
"""

from parawire.train.checkpoint import (
    Checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from parawire.train.loop import EpochRecord, Trainer, TrainResult, evaluate, train_model
from parawire.train.models import model_source, pick_device
from parawire.train.recipes import (
    Recipe,
    create_recipe,
    list_recipes,
    make_optimizer,
    register_recipe,
    schedule_at,
)

__all__ = [
    "Checkpoint",
    "EpochRecord",
    "Recipe",
    "TrainResult",
    "Trainer",
    "create_recipe",
    "evaluate",
    "list_recipes",
    "load_checkpoint",
    "load_weights",
    "make_optimizer",
    "model_source",
    "pick_device",
    "register_recipe",
    "save_checkpoint",
    "save_weights",
    "schedule_at",
    "train_model",
]
