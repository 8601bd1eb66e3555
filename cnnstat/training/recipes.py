"""Training recipes: named sets of hyper-parameters, tuned per model where one recipe does not suit all; the command line wins."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from ..counting.memory import OPTIMIZER_STATES
from ..errors import CnnstatError

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile's modes a run may ask for


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one training run."""

    epochs: int  # with a time budget: the most epochs the plan may take
    batch_size: int
    lr: float
    optimizer: str  # a name of counting.memory.OPTIMIZER_STATES: sgd | momentum | adam | adamw
    schedule: str  # a name of training.schedules.SCHEDULES: constant | onecycle | lecun1998
    momentum: float = 0.9  # of the momentum optimizer (sgd has none)
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = False  # random 2-pixel shifts, and horizontal flips where the data set is mirror-symmetric
    pixels: str = "standard"  # standard: the data set's mean and std | unit: [0, 1] | lecun1998: background -0.1, ink 1.175
    init: str = "default"  # default | xavier (the classic sigmoid LeNet recipe initialises conv and linear weights with Xavier)
    amp: bool | None = None  # None: the device's default; True: also bf16 autocast on CPUs with native bf16
    channels_last: bool | None = None  # None: the device's default (on for CUDA); True: also on the CPU
    compile: bool = False  # torch.compile the model, on CUDA only (on the CPU its compile time outweighs what it saves)
    compile_mode: str = "default"  # one of COMPILE_MODES: torch.compile's mode; reduce-overhead replays the step as CUDA graphs
    eval_batch_size: int = 1000
    val: int = 5000  # training images held out to choose the checkpoint; 0: none, the test set is evaluated every epoch
    time_budget: float | None = None  # seconds the whole run may take; the steps are planned to fit
    tta: bool = False  # also try averaging each test image over its mirror image and one-pixel shifts; kept if validation says so


RECIPES: dict[str, Recipe] = {
    # The classic sigmoid LeNet recipe (as taught in Dive into Deep Learning): SGD lr 0.9, batch 256, 20 epochs,
    # Xavier initialisation, pixels in [0, 1], the test set evaluated after every epoch and no validation split.
    "classic": Recipe(
        epochs=20, batch_size=256, lr=0.9, optimizer="sgd", schedule="constant", pixels="unit", init="xavier", amp=False, val=0
    ),
    # Time to 90.5% on a CPU: large batches, Adam with a one-cycle schedule, few epochs (for fashion-fast on two AVX2
    # EPYC cores, two reached 89.8%, three 90.4-90.8%, at about 4 s each), channels_last (NCHW was 1.3x slower for
    # the earlier 32-channel model).
    "fast": Recipe(
        epochs=3, batch_size=256, lr=0.02, optimizer="adam", schedule="onecycle", label_smoothing=0.05, amp=True,
        channels_last=True, compile=True,
    ),
    # The best accuracy within ten minutes on the machine at hand: the steps are planned to fit the budget.
    "best": Recipe(
        epochs=60,
        batch_size=128,
        lr=0.004,
        optimizer="adamw",
        schedule="onecycle",
        weight_decay=0.05,
        label_smoothing=0.1,
        augment=True,
        amp=True,
        channels_last=True,  # on two EPYC cores 1.25-1.35x faster than NCHW, in float32 (AVX2 or AVX-512) and in bf16
        compile=True,
        time_budget=600.0,
        tta=True,
    ),
    # LeCun et al. 1998 (§III.A, §II.C), where it is cheap to follow: 20 passes of plain SGD with the paper's step-wise
    # learning rates, its initialisation (the model's own), pixels with background -0.1 and ink 1.175, images padded
    # to 32×32. What differs: mini-batches of 32 instead of one image per update, and one global learning rate
    # instead of the stochastic diagonal Levenberg-Marquardt step sizes.
    "lecun1998": Recipe(
        epochs=20, batch_size=32, lr=0.001, optimizer="sgd", schedule="lecun1998", pixels="lecun1998", amp=False, val=0
    ),
}

# On a CUDA GPU: what changes where a step costs little arithmetic and much launching. UNTUNED starting points,
# written without a GPU at hand: to be chosen by validation on one (bench/train_gpu.py measures them). The step is
# replayed as CUDA graphs (whole batches keep its shapes static), each evaluation is one batch, and `best` takes
# batches four times larger at a square-root-scaled rate, for epochs short enough that 40 fit in seconds. Its budget
# (compilation and start-up count against it) binds only on a slow GPU: on a fast one the 40 epochs do.
GPU_TUNING: dict[str, dict[str, Any]] = {
    "fast": {"compile_mode": "reduce-overhead", "eval_batch_size": 10_000},
    "best": {"compile_mode": "reduce-overhead", "eval_batch_size": 10_000, "batch_size": 512, "lr": 0.008, "epochs": 40,
             "time_budget": 120.0},  # fmt: skip
}

# A recipe's defaults for a model that does not suit them; what the command line gives still wins.
MODEL_TUNING: dict[tuple[str, str], dict[str, Any]] = {
    # Sigmoid LeNets learn slowly: two epochs leave them at 82%; these reach 88% in fewer epochs than the classic recipe.
    ("lenet-fashion", "fast"): {"epochs": 10, "batch_size": 128, "lr": 0.01, "label_smoothing": 0.0},
    ("lenet5", "fast"): {"epochs": 10, "batch_size": 128, "lr": 0.01, "label_smoothing": 0.0},
}
DEFAULT_RECIPE: dict[str, str] = {"lenet5-1998": "lecun1998"}


def default_recipe(model: str) -> str:
    """The recipe a model trains with when none is named: the 1998 paper's for its LeNet-5, else ``fast``."""
    return DEFAULT_RECIPE.get(model, "fast")


def build_recipe(name: str, model: str | None = None, *, on_gpu: bool = False, **overrides: Any) -> Recipe:
    """The named recipe, for a CUDA GPU where ``on_gpu`` (:data:`GPU_TUNING`), tuned for ``model`` where
    :data:`MODEL_TUNING` says so, with every non-None override applied.

    An explicit ``epochs`` without a ``time_budget`` turns the recipe's budget off: the run trains exactly that long.
    """
    if name not in RECIPES:
        raise CnnstatError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    known = {f.name for f in fields(Recipe)}
    chosen = {key: value for key, value in overrides.items() if value is not None and key in known}
    if "epochs" in chosen and "time_budget" not in chosen:
        chosen["time_budget"] = None
    tuned = {**(GPU_TUNING.get(name, {}) if on_gpu else {}), **MODEL_TUNING.get((model or "", name), {})}
    recipe = replace(RECIPES[name], **{**tuned, **chosen})
    if recipe.optimizer not in OPTIMIZER_STATES:
        raise CnnstatError(f"unknown optimizer {recipe.optimizer!r}; choose one of {', '.join(OPTIMIZER_STATES)}")
    if recipe.epochs < 1 or recipe.batch_size < 1 or recipe.lr <= 0:
        raise CnnstatError("--epochs and --batch-size must be at least 1 and --lr positive")
    if recipe.compile_mode not in COMPILE_MODES:
        raise CnnstatError(f"unknown compile mode {recipe.compile_mode!r}; choose one of {', '.join(COMPILE_MODES)}")
    if recipe.val < 0:
        raise CnnstatError("--val must be 0 (no validation split) or a number of training images")
    return recipe


def compile_mode_for(recipe: Recipe, world: int) -> str:
    """The torch.compile mode a run of ``world`` processes uses: the recipe's, except no CUDA graphs under DDP.

    reduce-overhead records the step as CUDA graphs; DDP all-reduces gradients from autograd hooks while the backward
    runs, outside what a graph captures, so the graphs break at every bucket and NCCL's collectives would have to be
    captured too. GPU_TUNING chose reduce-overhead for one process; with several the default mode is the safe one.
    """
    return "default" if world > 1 and recipe.compile_mode == "reduce-overhead" else recipe.compile_mode


def recipe_from_dict(data: dict[str, Any]) -> Recipe:
    """A stored recipe, also one written before validation splits and budgets (``normalize`` became ``pixels``) or before
    test-time averaging took shifts too (``flip_tta`` became ``tta``), or while ``sgd`` still used ``momentum``."""
    data = dict(data)
    if "flip_tta" in data:
        data.setdefault("tta", data.pop("flip_tta"))
    if data.get("optimizer") == "sgd" and data.get("momentum", 0) > 0:
        # before sgd and momentum were two optimizers, sgd took the recipe's momentum: resume such a run as it trained
        data["optimizer"] = "momentum"
    if "normalize" in data:
        data.setdefault("pixels", "standard" if data.pop("normalize") else "unit")
        data.setdefault("val", 0)  # such runs evaluated the test set every epoch
    known = {f.name for f in fields(Recipe)}
    return Recipe(**{key: value for key, value in data.items() if key in known})
