"""ScaledDotProductAttention-13: ``softmax(Q K^T * scale + mask) V``, as OpenVINO's converters
emit it for PyTorch's attention (and for hand-written attention they fuse)."""
from __future__ import annotations

import numpy as np

from irtool.runtime.kernels.reduce import softmax_ref
from irtool.runtime.registry import kernel


@kernel("ScaledDotProductAttention", versions=("opset13",))
def scaled_dot_product_attention(q, k, v, mask=None, scale=None, *, causal: bool = False):
    scale = np.float32(1 / np.sqrt(q.shape[-1])) if scale is None else np.asarray(scale, q.dtype).reshape(())
    scores = (q * scale) @ np.swapaxes(k, -1, -2)
    if causal:
        L, S = scores.shape[-2:]
        scores = np.where(np.triu(np.ones((L, S), bool), k=1), np.float32(-np.inf), scores)
    elif mask is not None:
        # a boolean mask says who may attend; a float mask is added to the scores
        scores = np.where(mask, scores, np.float32(-np.inf)) if mask.dtype == np.bool_ else scores + mask
    return (softmax_ref(scores.astype(q.dtype, copy=False), -1) @ v).astype(q.dtype, copy=False)
