"""--mlflow's tracking (distributed/tracking.py); its runs end to end are in test_repeats.py."""
import subprocess
import sys

from tests.helpers import ROOT


def test_a_search_without_mlflow_does_not_import_it():
    # mlflow takes seconds to import: the search's modules leave it to --mlflow (mlflow_callback.py)
    code = ("import sys, bert_hpo_distributed.search, bert_hpo_distributed.tracking; "
            "sys.exit(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow')[:3] or 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
