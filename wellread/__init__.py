"""wellread: pre-train, distil and compare compact BERTs (Turc et al., 2019) on a laptop CPU."""
import os
import sys

# Idle OpenMP threads spin by default; on shared 2-core machines (Binder, CI) that made a training
# step 10x slower. Must be set before torch is imported, which is why it lives here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# nbformat (under plotly's notebook renderer and papermill) imports jsonschema, which builds rfc3987-syntax's 38 Lark
# grammars at import, 2.5 s of every lesson's first cell on a 2-core laptop, for URI format checks nothing here runs.
sys.modules.setdefault("rfc3987_syntax", None)

__version__ = "0.6.0"  # packs are shared within a minor version: a new minor version is a new set of cache keys
