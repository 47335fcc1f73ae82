"""The console's lines of a search's data preparation, each said once per search: the search prepares
its inputs once per token key (max_length, truncation, model), and every preparation reports the same
notes (skipped rows, leaks) and a data line that differs only in what the tokens count."""
from typing import List

from bertclf.inputs import data_line


def say_new(lines, said: list, say) -> None:
    """Say each of `lines` that is not in `said` (the lines said so far, which it joins)."""
    for line in lines:
        if line not in said:
            said.append(line)
            say(line)


def notes_of(lines: List[str], inputs) -> List[str]:
    """The lines one preparation of `inputs` logged, less its data line (data_lines says the data)."""
    return [line for line in lines if line != data_line(inputs)]


def data_lines(groups) -> List[str]:
    """One data line per model of `groups` [(config, inputs, keys)], as the inputs of its longest
    max_length describe the data; where its inputs describe them differently (the mean length is per
    max_length), the line says which max_length it counts and which others the search reads."""
    by_model = {}
    for config, inputs, _ in groups:
        by_model.setdefault(config.bert_name, []).append((config, inputs))
    lines = []
    for name, prepared in by_model.items():
        config, inputs = max(prepared, key=lambda pair: pair[0].max_length)
        which = [f"{name}'s tokens"] if len(by_model) > 1 else []
        if len({other.description for _, other in prepared}) > 1:
            others = sorted({other.max_length for other, _ in prepared} - {config.max_length})
            which += [f"at max_length {config.max_length}"]
            which += [f"also searched: {', '.join(map(str, others))}"] if others else []
        lines.append(data_line(inputs) + (f" ({'; '.join(which)})" if which else ""))
    return lines
