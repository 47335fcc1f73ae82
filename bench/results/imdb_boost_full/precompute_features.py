"""Precompute (cache) the frozen MiniLM features that the full-data IMDB boost search will load."""
import time, torch
from bertclf.config import TrainConfig
from bertclf.inputs import prepare_inputs, add_features
from bertclf.tasks.classification.inputs import prepare_test
from bertclf.feature_cache import FrozenEncoder, frozen_features
from bertclf.models.encoders import resolve_model, load_tokenizer, load_encoder, encoder_fingerprint
torch.set_num_threads(2)
name = "sentence-transformers/all-MiniLM-L6-v2"
source, why = resolve_model(name)
print("model", source, why, flush=True)
variants = [(p, l) for p in ("cls", "mean", "mean+max") for l in ("last", "last4")]
for max_length in (512, 256):
    config = TrainConfig(train_path="/work/shared/data/imdb_train.csv.gz", bert_name=name, max_length=max_length,
                         truncation="head+tail", eval_batch_size=64, progress=True)
    t = time.time()
    inputs = prepare_inputs(config, print, model_path=source)
    print(f"tokens {max_length}: {time.time()-t:.0f} s", flush=True)
    t = time.time()
    add_features(inputs, config, variants, print, model_path=source)
    print(f"features train+valid {max_length}: {time.time()-t:.0f} s", flush=True)
    t = time.time()
    tok = load_tokenizer(source)
    test = prepare_test("/work/shared/data/imdb_test.csv.gz", {"label_names": inputs.label_names, "max_length": max_length,
                        "truncation": "head+tail"}, tok, config.cache_dir)
    enc = load_encoder(source)
    frozen = FrozenEncoder(enc, encoder_fingerprint(enc), torch.device("cpu"), True, 64, config.cache_dir, True)
    frozen_features(frozen, test.tokens["test"], test.pad_id, variants, "test")
    print(f"features test {max_length}: {time.time()-t:.0f} s", flush=True)
