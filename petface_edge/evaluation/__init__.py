"""Evaluation suite (``petface-eval``, ``petface-compare``); needs the ``train`` extra (scikit-learn, matplotlib).

    >>> from petface_edge.evaluation import EvalConfig, evaluate
    >>> results = evaluate(EvalConfig(model=Path("run/pet_embedder.pt"), data_dir=Path("data"),
    ...                               output_dir=Path("eval")))
"""

from .runner import EvalError
from .suite import EvalConfig, evaluate

__all__ = ["EvalConfig", "EvalError", "evaluate"]
