"""Many dubs in one command: a manifest (or a glob) of inputs, one job per (input, language).

``dub batch`` and its manual (docs/batch.md) are the way in; these modules are its parts:

- ``rows``: a manifest file (CSV, JSONL, JSON, YAML) read into rows, errors naming the line
- ``manifest``: rows or a glob turned into jobs, every output checked before any job starts
- ``job``: one job run, its failure recorded as a result, its report the mark that it is done
- ``workers``: where jobs run: this process, a process pool, or Ray actors
- ``schedule``: in what order: one stage over every job (the default), or file by file

A row's option columns become a dub's options in :mod:`dubber.options`, as flags do.
"""

from .job import Job, JobResult, merge_stages
from .manifest import glob_jobs, order_jobs, plan_jobs, read_manifest, report_path
from .rows import COLUMNS, MANIFEST_SUFFIXES, ManifestError
from .schedule import ORDERS, BatchInterrupted, run_batch
from .workers import WORKER_MEMORY_GB, memory_cap

__all__ = ["COLUMNS", "MANIFEST_SUFFIXES", "ORDERS", "WORKER_MEMORY_GB", "BatchInterrupted", "Job", "JobResult",
           "ManifestError", "glob_jobs", "memory_cap", "merge_stages", "order_jobs", "plan_jobs", "read_manifest",
           "report_path", "run_batch"]
