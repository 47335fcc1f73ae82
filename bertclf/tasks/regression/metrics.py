"""Regression scores of predicted against true numbers: RMSE, MAE (in the target's units), Pearson's and
Spearman's correlation, R² (scikit-learn, SciPy). RMSE and MAE are errors: lower is better."""
import warnings

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

SCORES = ("spearman", "pearson", "rmse", "mae", "r2")
ERRORS = ("rmse", "mae")  # the scores where lower is better


def scores(y_true, y_pred) -> dict:
    """{spearman, pearson, rmse, mae, r2} of the predictions `y_pred` of `y_true`. A correlation with a
    constant side (every prediction the same) is undefined: 0, what it is worth."""
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    constant = np.ptp(y_true) == 0 or np.ptp(y_pred) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's warning on a constant input: 0 below
        pearson = 0.0 if constant else float(pearsonr(y_true, y_pred)[0])
        spearman = 0.0 if constant else float(spearmanr(y_true, y_pred)[0])
    return {"spearman": _finite(spearman), "pearson": _finite(pearson),
            "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
            "mae": float(mean_absolute_error(y_true, y_pred)),
            "r2": float(r2_score(y_true, y_pred)) if len(y_true) > 1 else 0.0}


def _finite(value: float) -> float:
    return value if np.isfinite(value) else 0.0
