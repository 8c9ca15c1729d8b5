"""wellread: pre-train, distil and compare compact BERTs (Turc et al., 2019) on a laptop CPU."""
import os

# Idle OpenMP threads spin by default; on shared 2-core machines (Binder, CI) that made a training
# step 10x slower. Must be set before torch is imported, which is why it lives here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.3.0"  # 0.3: length buckets and shared training-input logits changed every cache key; packs are shared within a minor version
