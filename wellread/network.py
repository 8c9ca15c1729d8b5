"""Is the Hugging Face hub reachable? A 2-second probe instead of ~25 s of retries, and an error that names
the offline choices. Imports nothing heavy: notebooks call it before transformers and datasets load."""
from __future__ import annotations

import os
import socket

HUB_HOST = "huggingface.co"
OFFLINE_HINT = ("use source='embedded' (the offline data pack, see `wellread data fetch`) and, for students "
                "pre-trained at scale, pretrained='minilm' (the embedded MiniLM teacher's layers) or 'own'")


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hub_online(timeout: float = 2.0, set_offline: bool = True) -> bool:
    """Can we reach the Hugging Face hub? A 2-second socket probe instead of 25 s of retries.

    When it cannot, and `set_offline`, HF_HUB_OFFLINE / HF_DATASETS_OFFLINE are set so later calls
    fail at once (they must be set before transformers/datasets are imported to take full effect)."""
    if _env_true("HF_HUB_OFFLINE") or _env_true("HF_DATASETS_OFFLINE"):
        return False
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        if set_offline:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["HF_DATASETS_OFFLINE"] = "1"
        return False


def require_hub(what: str = "this", timeout: float = 2.0) -> None:
    """Fail within seconds, naming the offline choices, when the hub cannot be reached."""
    offline_var = next((v for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if _env_true(v)), None)
    if offline_var or not hub_online(timeout, set_offline=False):
        why = f"{offline_var} is set" if offline_var else f"could not connect to {HUB_HOST}:443"
        raise ConnectionError(f"Hugging Face hub unreachable (offline?) for {what}: {why}. Offline, {OFFLINE_HINT}")
