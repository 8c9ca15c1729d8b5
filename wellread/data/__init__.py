"""Data for the kit: an offline pack built from pinned PyPI packages (pack, sources), the hub (hub), your
own files (files), and what the stages call (loaders, task). See data/README.md for sources."""
from ..network import hub_online, require_hub
from .files import load_labeled_files, read_table
from .hub import HUB_TASKS, TASK_NAMES, hub_task_splits, hub_text
from .loaders import CORPUS_NAMES, TRANSFER_NAMES, check_corpus, check_transfer, column, fetch, load_corpus, \
    load_task, load_transfer
from .pack import (DIALOG_FILE, LEE_FILE, MPNET_FILES, PACK_VERSION, RT_FILE, SPEECHES_FILE, TEACHER_FILES, TEACHERS,
                   WIKI_FILE, WORDNET_FILES, datasets_bars_off, ensure_files, load_tokenizer, teacher_dir)
from .sources import LABEL_NAMES, MIN_TRANSFER_WORDS, SPLIT_SEED, normalise, split_by_movie, split_sentences
from .task import Task, file_fingerprint, inputs, is_transfer_file, show_class_table, transfer_inputs
