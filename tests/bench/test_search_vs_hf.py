"""The race (bench/search_vs_hf.py) runs a user's spec only on the race's terms."""
import importlib.util

import pytest
import yaml

from tests.helpers import ROOT

SPEC = ROOT / "bench" / "race_from_scratch.yaml"


def race_module():
    spec = importlib.util.spec_from_file_location("search_vs_hf", ROOT / "bench" / "search_vs_hf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Terms:  # the race's defaults, as its command line gives them
    trials, epochs, max_length = 6, 3, 128


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw.update(num_samples=8), "num_samples: the race's is 6, the spec says 8"),
    (lambda raw: raw["fixed"].update(max_length=256), "fixed.max_length: the race's is 128, the spec says 256"),
    (lambda raw: raw["space"]["batch_size"].update(choice=[8, 16]), "space: the race's is"),
])
def test_a_user_spec_off_the_races_terms_is_refused(tmp_path, change, message):
    race = race_module()
    race.check_user_spec(str(SPEC), Terms)  # the committed spec races as it is
    raw = yaml.safe_load(SPEC.read_text())
    change(raw)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit, match=message):
        race.check_user_spec(str(tmp_path / "spec.yaml"), Terms)
