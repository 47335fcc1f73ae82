"""QA's model and loss: a start/end head on the encoder's token vectors, span cross-entropy."""
import torch
from torch import nn

from ...models.heads import drop_pooler


class BertSpanQA(nn.Module):
    def __init__(self, encoder, dropout_p: float, hidden_size=None):
        super().__init__()
        drop_pooler(encoder)  # spans come from the token vectors
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout_p)
        self.head = nn.Linear(hidden_size or encoder.config.hidden_size, 2)

    def forward(self, input_ids, attention_mask, token_type_ids):
        trainable = next(self.encoder.parameters()).requires_grad
        with torch.set_grad_enabled(trainable and torch.is_grad_enabled()):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
        logits = self.head(self.dropout(hidden)).float()
        logits = logits.masked_fill(attention_mask.unsqueeze(-1) == 0, torch.finfo(torch.float32).min / 2)
        return logits  # [batch, tokens, 2]: start, end


def span_loss(logits: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """Start and end cross-entropy, averaged over the two and summed over the batch."""
    ce = nn.functional.cross_entropy
    return (ce(logits[..., 0], starts, reduction="sum") + ce(logits[..., 1], ends, reduction="sum")) / 2
