"""A run's inputs prepared once (bertclf/inputs.py)."""
import torch


def test_feature_variants_come_from_one_encoder_pass_and_are_cached_each(config_for, monkeypatch):
    from transformers.models.bert import modeling_bert
    from bertclf.inputs import add_features, prepare_inputs
    calls = []
    forward = modeling_bert.BertModel.forward

    def counting(self, *args, **kwargs):
        calls.append(1)
        return forward(self, *args, **kwargs)
    monkeypatch.setattr(modeling_bert.BertModel, "forward", counting)
    config = config_for(bert_finetuning=False, boost=True, eval_batch_size=400)
    inputs = prepare_inputs(config, lambda m: None)
    variants = [(p, l) for p in ("cls", "mean", "mean+max") for l in ("last", "last4")]
    featured = add_features(inputs, config, variants, lambda m: None)
    assert len(calls) == 2  # one batch of train, one of valid: every variant from the same pass
    hidden, states = 32, 3  # the tiny BERT has 2 layers: last4 reads the embeddings and both layers
    sizes = {v: featured[v].features["train"].shape[1] for v in variants}
    assert sizes == {("cls", "last"): hidden, ("cls", "last4"): states * hidden, ("mean", "last"): hidden,
                     ("mean", "last4"): states * hidden, ("mean+max", "last"): 2 * hidden,
                     ("mean+max", "last4"): 2 * states * hidden}
    calls.clear()
    again = add_features(inputs, config, variants[::-1], lambda m: None)
    assert not calls and torch.equal(again[("mean", "last4")].features["valid"],
                                     featured[("mean", "last4")].features["valid"])
