"""benchmarks/memory.py matches its memory samples to the cells that were running, to name where a notebook peaks."""
import importlib.util
import json
from pathlib import Path

_spec = importlib.util.spec_from_file_location("memory", Path(__file__).parents[1] / "benchmarks" / "memory.py")
memory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(memory)


def test_each_cell_gets_the_samples_taken_while_it_ran(tmp_path):
    def cell(source, start, end):
        times = {key: f"2026-11-30T10:00:{second:02d}.000000Z" for key, second in (("start_time", start), ("end_time", end))}
        return {"cell_type": "code", "source": source, "metadata": {"papermill": times}}
    executed = tmp_path / "run.ipynb"
    executed.write_text(json.dumps({"cells": [
        cell(["import wellread\n"], 0, 2), {"cell_type": "markdown", "source": ["# a title"], "metadata": {}},
        cell(["\n", "student = pretrain(config)\n", "plot(student)\n"], 3, 9)]}))
    t0 = 1796032800.0  # 2026-11-30T10:00:00Z
    samples = [(t0 + 1, 300), (t0 + 2.2, 500), (t0 + 4, 700), (t0 + 6, 1200), (t0 + 8, 900)]
    assert memory._cell_memory(executed, samples) == [
        {"cell": 0, "first_line": "import wellread", "start_mib": 300, "peak_mib": 500},  # 2.2 s: its end + 0.5 s
        {"cell": 1, "first_line": "student = pretrain(config)", "start_mib": 700, "peak_mib": 1200}]
