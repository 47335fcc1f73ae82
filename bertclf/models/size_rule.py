"""The encoder learning rate a fine-tune starts from, sized to the model:

    lr_main = 2e-5 x 110 M / parameters, held within [1e-5, 1e-4]

Two anchors fix its one exponent. BERT-base (110 M parameters) fine-tunes at 2e-5: the low end of
BERT's own grid (Devlin et al. 2019, 2e-5 to 5e-5), the engine's default, and the rate that stable
fine-tuning recipes keep for models of that size (Mosbach et al. 2021). all-MiniLM-L6 (22.7 M) learns at
about 1e-4: the imdb-minilm spec's search put 8.8e-5 to 1.5e-4 first and 2e-5 last
(bench/results/imdb_minilm_finetune), and on its recorded curves (bench/results/curves/curves_finetune.json)
the rates from 8.5e-5 to 1.1e-4 reach 0.74-0.79 valid accuracy, those from 2e-5 to 2.7e-5 0.61-0.68.
A rate inversely proportional to the size passes through both. Beyond the sizes it was measured at,
the rule is not trusted: the rate stays between 1e-5 (the rate large models are fine-tuned at, e.g.
RoBERTa-large) and 1e-4.

Only the encoder's rate is sized: it is the one value with a known dependence on model size that this
project has measured; the head's rate trains a fresh layer whatever the encoder's size.
"""
ANCHOR_RATE = 2e-5  # BERT-base's
ANCHOR_PARAMETERS = 110e6  # BERT-base's parameter count
LOWEST, HIGHEST = 1e-5, 1e-4
RULE = "2e-5 x 110M / parameters, within [1e-5, 1e-4]"


def encoder_rate(parameters: int) -> float:
    """The encoder's learning rate for a model of `parameters` parameters (the module's rule)."""
    return min(HIGHEST, max(LOWEST, ANCHOR_RATE * ANCHOR_PARAMETERS / max(1, parameters)))
