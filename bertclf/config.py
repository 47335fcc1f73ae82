"""One training run's options: Pytorch-BERT-Classification's fourteen under their own names, plus what users expect."""
import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Optional

from .data.label_names import LABEL_NAMES
from .errors import UserError
from .models.lora import PEFT_MISSING, TARGETS as LORA_TARGETS, peft_installed
from .paths import default_cache_dir

TRUNCATIONS = ("head", "tail", "head+tail", "chunks")
POOLINGS = ("cls", "mean", "mean+max")
LAYERS = ("last", "last4")
HEADS = ("linear", "mlp")
PRECISIONS = ("auto", "bf16", "fp32", "int8")
# points of the valid metric an int8 copy may lose to fp32 and still ship (0.005 of an accuracy)
INT8_TOLERANCE = 0.5
CLASS_WEIGHTS = ("none", "balanced", "sqrt")


def bad_option(option: str, expected: str, value) -> None:
    """Raise the one-line error for an option's value: `--option: expected ..., got ...`."""
    raise UserError(f"--{option}: expected {expected}, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    # Pytorch-BERT-Classification's options (same names, same meaning; floats are floats and booleans are booleans)
    train_path: Optional[str] = None
    valid_path: Optional[str] = None
    text_column: Optional[str] = None
    text_pair_column: Optional[str] = None
    label_column: Optional[str] = None
    label_columns: Optional[str] = None  # multilabel: several 0/1 columns, comma-separated, one per label
    label_sep: str = "|"  # multilabel: the separator of a label column's label sets
    dataset: Optional[str] = None  # the shipped data set whose layout the files have: its label ids read as names
    max_length: int = 256
    save_path: str = "runs"
    bert_name: str = "bert-base-uncased"
    bert_finetuning: bool = True
    encoder_layers: Optional[int] = None  # keep the encoder's first k layers (None: all of them)
    dropout_p: float = 0.1
    boost: bool = False
    n_epochs: int = 4
    lr: float = 1e-3
    lr_main: float = 2e-5
    early_stop: int = -1
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    # what Pytorch-BERT-Classification lacked
    task: str = "classification"
    metric: Optional[str] = None
    class_weight: str = "none"  # a rare class's weight in the loss: none | balanced | sqrt (of balanced)
    doc_stride: int = 128
    max_answer_length: int = 30
    seed: int = 42
    train_seed: Optional[int] = None  # the training's randomness alone; None: seed (see training_seed)
    device: str = "auto"
    num_workers: int = 0
    pooling: str = "cls"
    layers: str = "last"
    head: str = "linear"
    lora: bool = False
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.1
    lora_targets: str = "attention"
    truncation: str = "head"
    max_chunks: int = 8  # truncation chunks: windows read of one text at most
    valid_fraction: float = 0.1
    cv_folds: int = 0  # score by K folds of train instead of one held-out split; 0: one split
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_train_samples: Optional[int] = None
    max_valid_samples: Optional[int] = None
    eval_batch_size: int = 64
    evals_per_epoch: int = 1
    degenerate_check: bool = False
    precision: str = "auto"
    cache_dir: str = field(default_factory=default_cache_dir)
    run_name: Optional[str] = None
    overwrite: bool = False
    progress: bool = True

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.gradient_accumulation_steps

    @property
    def training_seed(self) -> int:
        """Seeds the head's initialisation, dropout and the data order; `seed` alone picks the held-out
        split and the subsets, so that runs of several train_seed share one validation set."""
        return self.seed if self.train_seed is None else self.train_seed

    @property
    def uses_feature_cache(self) -> bool:
        return self.boost and not self.bert_finetuning

    @property
    def feature_variant(self) -> tuple:
        """(pooling, layers): which frozen features a boost run trains its head on."""
        return (self.pooling, self.layers)

    @property
    def has_validation(self) -> bool:
        """False for a refit: all of train is trained on, and the last epoch is the model."""
        return bool(self.valid_path) or self.valid_fraction > 0 or self.cv_folds > 0

    def __post_init__(self):
        """Every option that can be checked without reading data, a model or the task's own code, as
        the options are made: a TrainConfig is valid where it exists, and nothing downstream checks it
        again (bertclf.tasks.check_task_options checks the task's options, once per run)."""
        if self.max_length < 8:
            bad_option("max_length", "an integer of at least 8", self.max_length)
        for name in ("batch_size", "gradient_accumulation_steps", "n_epochs", "eval_batch_size",
                     "evals_per_epoch"):
            if getattr(self, name) < 1:
                bad_option(name, "a positive integer", getattr(self, name))
        if self.batch_size % self.gradient_accumulation_steps:
            raise UserError(
                f"--batch_size {self.batch_size} is not divisible by --gradient_accumulation_steps "
                f"{self.gradient_accumulation_steps}: batch_size is the effective batch, split into "
                f"gradient_accumulation_steps micro-batches of equal size")
        if not 0.0 <= self.dropout_p < 1.0:
            bad_option("dropout_p", "a probability in [0, 1)", self.dropout_p)
        for name in ("lr", "lr_main"):
            if not getattr(self, name) > 0:
                bad_option(name, "a positive learning rate", getattr(self, name))
        if self.early_stop == 0 or self.early_stop < -1:
            bad_option("early_stop", "a patience of at least 1 epoch, or -1 to disable", self.early_stop)
        if self.dataset is not None and self.dataset not in LABEL_NAMES:
            bad_option("dataset", f"one of {', '.join(LABEL_NAMES)} (the shipped data set whose layout the files have) "
                       f"or none for your own data", self.dataset)
        if self.truncation not in TRUNCATIONS:
            bad_option("truncation", " | ".join(TRUNCATIONS), self.truncation)
        if self.encoder_layers is not None and self.encoder_layers < 1:
            bad_option("encoder_layers", "a positive number of layers (the encoder's first k are kept) or none "
                       "for all", self.encoder_layers)
        if self.max_chunks < 1:
            bad_option("max_chunks", "a positive integer (windows read of one text at most)", self.max_chunks)
        # a window holds max_length less the text's two special tokens ([CLS] and [SEP] or their kind);
        # a tokenizer with more is refused when the texts are cut (windows.window_spans)
        if self.truncation == "chunks" and not 0 <= self.doc_stride < self.max_length - 2:
            bad_option("doc_stride", f"an overlap of neighbouring windows in [0, max_length - 2 = {self.max_length - 2}) "
                       f"(a window's text tokens) for truncation chunks", self.doc_stride)
        for name, allowed in (("pooling", POOLINGS), ("layers", LAYERS), ("head", HEADS),
                              ("precision", PRECISIONS), ("class_weight", CLASS_WEIGHTS)):
            if getattr(self, name) not in allowed:
                bad_option(name, " | ".join(allowed), getattr(self, name))
        self._check_validation()
        if not 0.0 <= self.warmup_ratio < 1.0:
            bad_option("warmup_ratio", "a fraction in [0, 1)", self.warmup_ratio)
        for name in ("max_train_samples", "max_valid_samples"):
            value = getattr(self, name)
            if value is not None and value < 2:
                bad_option(name, "at least 2 samples", value)
        if not self.label_sep:
            bad_option("label_sep", "the character(s) between the labels of a row, e.g. '|'", self.label_sep)
        if self.label_columns and self.label_column:
            raise UserError(f"--label_columns {self.label_columns}: several 0/1 label columns are read in place of "
                            f"one --label_column ({self.label_column}); give one of them")
        if self.boost and self.bert_finetuning:
            raise UserError("--boost True needs --bert_finetuning False: boost caches the features "
                            "of a frozen encoder, and a fine-tuned encoder changes every step")
        self._check_lora()

    def _check_validation(self) -> None:
        """What is validated on: a held-out fraction, folds of train, or a valid file."""
        if not 0.0 <= self.valid_fraction < 1.0:
            bad_option("valid_fraction", "a fraction in [0, 1)", self.valid_fraction)
        if self.cv_folds == 1 or self.cv_folds < 0:
            bad_option("cv_folds", "0 (one held-out split) or a number of folds of at least 2", self.cv_folds)
        if self.cv_folds and self.valid_path:
            raise UserError(f"--cv_folds {self.cv_folds} validates on folds of train: a --valid_path file would not "
                            f"be read; give one of them")
        if not self.has_validation and (self.early_stop > 0 or self.degenerate_check):
            raise UserError("--valid_fraction 0 trains on all of train with nothing to validate on: "
                            "--early_stop and --degenerate_check need validation data")

    def _check_lora(self) -> None:
        if self.lora_r < 1:
            bad_option("lora_r", "a positive integer (the adapters' rank)", self.lora_r)
        if not self.lora_alpha > 0:
            bad_option("lora_alpha", "a positive scale", self.lora_alpha)
        if not 0.0 <= self.lora_dropout < 1.0:
            bad_option("lora_dropout", "a probability in [0, 1)", self.lora_dropout)
        if self.lora_targets not in LORA_TARGETS:
            bad_option("lora_targets", " | ".join(LORA_TARGETS), self.lora_targets)
        if self.lora and not self.bert_finetuning:
            raise UserError("--lora True needs --bert_finetuning True: the adapters are trained in the encoder")
        if self.lora and not peft_installed():
            raise UserError(PEFT_MISSING)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise UserError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**values)


def str2bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("true", "1", "yes", "y", "on"):
        return True
    if value in ("false", "0", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True/False/1/0/yes/no, got {text!r}")


def optional_int(text: str) -> Optional[int]:
    return None if str(text).lower() in ("none", "") else int(text)


METAVARS = {str2bool: "True|False", int: "N", optional_int: "N", float: "X"}


# each option's --help line
HELPS = {
    "train_path": "training data: .csv/.tsv/.txt/.jsonl (optionally .gz), .parquet, a datasets save_to_disk folder, "
                  "an aclImdb split folder, or SQuAD JSON for --task qa",
    "valid_path": "validation data; without it a stratified, seeded slice of train is held out",
    "text_column": "the column holding the text (none: found by its header name: text, review, sentence, ...)",
    "text_pair_column": "the column holding a second text: pairs are classified together, e.g. sentence1/sentence2 "
                        "(none: found by header pairs such as sentence1,sentence2 or premise,hypothesis)",
    "label_column": "the column holding the label (none: found by its header name: label, sentiment, class, ...)",
    "label_columns": "multilabel: several 0/1 columns, one per label, comma-separated (a,b,c), in place of one "
                     "label column",
    "label_sep": "multilabel: what separates the labels of a row in its label column (Action|Comedy)",
    "dataset": "the files are a shipped data set's (imdb, nsmc: their own, or yours in their layout): its label "
               "ids read as its names, 0 negative and 1 positive, in the model, predictions and tables "
               "(none: labels as written)",
    "max_length": "maximum tokens per text, [CLS] and [SEP] included",
    "save_path": "folder that receives one sub-folder per run",
    "bert_name": "Hugging Face model name (hub, its cache, or a packaged copy offline) or a local folder; any encoder AutoModel loads (BERT, DistilBERT, RoBERTa, XLM-R, ELECTRA, DeBERTa-v2/v3, MiniLM, ...)",
    "encoder_layers": "keep the encoder's first k layers and drop the rest (a smaller, faster model; Sajjad et al. "
                      "2020); none: all of them",
    "bert_finetuning": "train the encoder too (True) or only the head (False)",
    "dropout_p": "dropout on the pooled vector before the head (and inside an mlp head)",
    "boost": "with --bert_finetuning False: compute the frozen features once, cache them, train the head",
    "n_epochs": "number of epochs",
    "lr": "learning rate of the head",
    "lr_main": "learning rate of the encoder (when fine-tuning; of its adapters with --lora True)",
    "early_stop": "stop after this many checks (epochs, unless --evals_per_epoch > 1) without a better valid score; -1 disables",
    "batch_size": "effective batch size (micro-batch = batch_size // gradient_accumulation_steps)",
    "gradient_accumulation_steps": "micro-batches accumulated per optimizer step",
    "task": "classification (text -> label) | multilabel (text -> a set of labels) | qa (extractive question "
            "answering, SQuAD/KorQuAD JSON) | regression (text -> a number: a rating, a similarity score)",
    "metric": "the valid score that picks the best check (none: the task's first); classification: valid_accuracy "
              "| valid_macro_f1 | valid_weighted_f1 | valid_balanced_accuracy | valid_mcc; multilabel: valid_micro_f1 | "
              "valid_macro_f1 | valid_samples_f1 | valid_subset_accuracy | valid_hamming_loss (the lowest) | "
              "valid_mean_average_precision; regression: valid_spearman | valid_pearson | valid_r2 | valid_rmse | "
              "valid_mae (the last two: the lowest)",
    "class_weight": "each class's weight in the training loss, from train's counts: none | balanced "
                    "(rows / (classes x the class's rows): a rare class counts as much as a common one) | sqrt "
                    "(the square root of balanced: halfway)",
    "doc_stride": "qa, and truncation chunks: tokens two neighbouring windows over a long context or text share "
                  "(their overlap)",
    "max_answer_length": "qa: longest answer span considered, in tokens",
    "seed": "random seed (data order, split, dropout, head init)",
    "train_seed": "random seed of the training alone (data order, dropout, head init), the split kept by --seed; "
                  "none: --seed",
    "device": "auto | cpu | cuda | cuda:N",
    "num_workers": "processes that pad batches ahead of the model (0: in the training process)",
    "pooling": "cls (pooled [CLS], as Pytorch-BERT-Classification; the first token's hidden state for an encoder without a pooler: DistilBERT, ELECTRA, DeBERTa) | mean (mean of token vectors) | mean+max (both, concatenated)",
    "layers": "last (the last layer) | last4 (the last four layers, pooled each and concatenated)",
    "lora": "with --bert_finetuning True: train low-rank adapters (peft) in the encoder instead of all its weights; "
            "the head trains fully, --lr_main is the adapters' rate",
    "lora_r": "LoRA: the adapters' rank",
    "lora_alpha": "LoRA: the adapters' scale (their product is multiplied by lora_alpha / lora_r)",
    "lora_dropout": "LoRA: dropout on the adapters' input",
    "lora_targets": "LoRA: which linear layers of the encoder's layers get adapters: attention | attention+ffn "
                    "(found in the model)",
    "head": "linear (dropout + linear, as Pytorch-BERT-Classification) | mlp (one hidden layer of 512 GELU units)",
    "evals_per_epoch": "validation checks per epoch; each is reported, so a search can stop a run early",
    "degenerate_check": "stop a run whose valid score is still at chance, and loss not falling, at its first check after 25%% of training",
    "precision": "auto (bf16 autocast on CUDA and on CPUs with native bf16, else fp32) | bf16 | fp32 | int8 (trains "
                 "in fp32, scores each check on an int8 copy, and a search's ONNX copy of the model is quantised to "
                 "int8 where it stays within --int8-tolerance of fp32)",
    "truncation": "which part of a long text to keep: head | tail | head+tail (Sun et al. 2019) | chunks (all of it, "
                  "as windows overlapping by --doc_stride, pooled per text: mean and max of their pooled vectors)",
    "max_chunks": "truncation chunks: windows read of one text at most; beyond it, that many spread evenly over "
                  "the text",
    "valid_fraction": "share of train held out when --valid_path is not given (0: none; train on all, keep the last epoch)",
    "cv_folds": "score by K folds of train (stratified; each fold validated once, the score their mean) instead of "
                "one held-out split; 0: one split (--valid_fraction). A single run prints each fold and the mean +- "
                "std and saves no model (docs/folds.md)",
    "warmup_ratio": "share of optimizer steps with linear warm-up",
    "weight_decay": "AdamW weight decay (not applied to biases and LayerNorm)",
    "max_grad_norm": "gradient clipping norm (<= 0 disables)",
    "max_train_samples": "use a seeded random subset of this many training examples",
    "max_valid_samples": "use a seeded random subset of this many validation examples",
    "eval_batch_size": "batch size for validation and feature extraction",
    "cache_dir": "folder for cached token ids and frozen features",
    "run_name": "name of the run folder under save_path; none: run-<timestamp>",
    "overwrite": "replace an existing run folder of the same name",
    "progress": "show progress bars (on a terminal; into a pipe or a file, a line a minute)",
}


def _parse_type(name: str, default):
    """How --name's text becomes its value: by the type of its default (a boolean reads True/False/yes/no...);
    an optional count reads none as None."""
    if isinstance(default, bool):
        return str2bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if (name.startswith("max_") and name.endswith("_samples")) or name in ("train_seed", "encoder_layers"):
        return optional_int
    return str


# options whose default a single run reads from the model's files where they say it (cli.run_train):
# None on the command line until then
FROM_THE_MODEL = {"pooling": "the pooling a sentence-transformers model was trained with (its 1_Pooling "
                             "config), else cls"}


def add_train_arguments(parser) -> list:
    """Every TrainConfig field as --name (and --dashed-name), typed from its default, added to `parser`
    (a parser or an argument group); returns the actions added. The options of FROM_THE_MODEL default
    to None (the model decides)."""
    defaults = TrainConfig()
    actions = []
    for f in dataclasses.fields(TrainConfig):
        if f.name in FROM_THE_MODEL:
            actions.append(parser.add_argument(f"--{f.name}", dest=f.name, default=None, metavar=f.name.upper(),
                                               help=f"{HELPS[f.name]} (default: {FROM_THE_MODEL[f.name]})"))
            continue
        default = getattr(defaults, f.name)
        kind = _parse_type(f.name, default)
        flags = [f"--{f.name}"]
        if "_" in f.name:
            flags.append(f"--{f.name.replace('_', '-')}")
        # the metavar says what the value is (a path, a number, True/False); a default only where there is one
        metavar = METAVARS.get(kind) or ("PATH" if f.name.endswith(("_path", "_dir")) else
                                         "COLUMN" if f.name.endswith("_column") else f.name.upper())
        actions.append(parser.add_argument(*flags, dest=f.name, type=kind, default=default, metavar=metavar,
                                           help=HELPS[f.name] + (f" (default: {default})" if default is not None else "")))
    return actions


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's TrainConfig; an option of FROM_THE_MODEL left out takes TrainConfig's default."""
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    return TrainConfig(**{n: getattr(args, n) for n in names if not (n in FROM_THE_MODEL and getattr(args, n) is None)})
