"""Where a batch's jobs run: in this process, in a pool of worker processes, or on Ray
actors. Each keeps its workers for the whole batch, so a model a worker has loaded
serves every job it is given; all three answer the same four calls (slots, submit,
wait, result) for the scheduler.
"""

from __future__ import annotations

import os
from collections import deque

from pipelines.errors import BackendError

from .job import Job, one_line, run_job

WORKER_MEMORY_GB = 1.5  # a conservative bound on one worker's peak memory (bench.batch measures it)
RAY_CPUS_PER_WORKER = 2  # each dub uses several threads; fewer, fatter actors beat one per core


def memory_cap(workers: int) -> int:
    """``workers`` bounded by the memory available now (each worker holds its own models)."""
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) for line in f}
        available_gb = info["MemAvailable"] / 2**20
    except (OSError, KeyError, ValueError):
        return workers
    return max(1, min(workers, int(available_gb // WORKER_MEMORY_GB)))


class InProcess:
    """Jobs one after another in this process (models stay loaded between them)."""

    slots = 1

    def submit(self, job: Job, until: str | None = None, prior: dict | None = None):
        return run_job(job, until, prior)

    def wait(self, handles: list) -> list:
        return handles[:1]

    def result(self, handle) -> dict:
        return handle

    def close(self, interrupted: bool = False) -> None:
        pass


def _pool_init(env: dict) -> None:
    os.environ.update(env)


def _thread_env(workers: int) -> dict:
    """Thread counts for ``workers`` processes sharing this machine's cores: each stage is
    multi-threaded (torch, CTranslate2, BLAS), and two workers each running as many threads
    as there are cores spin against each other (measured: diarization 20x slower)."""
    share = str(max(1, (os.cpu_count() or 1) // workers))
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    return {name: os.environ.get(name, share) for name in names}


class ProcessPool:
    """Jobs on ``workers`` spawned processes that live for the whole batch."""

    def __init__(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.slots = workers
        env = {k: v for k, v in os.environ.items() if k.startswith("DUB_")} | _thread_env(workers)
        self.executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_pool_init, initargs=(env,))

    def submit(self, job: Job, until: str | None = None, prior: dict | None = None):
        return self.executor.submit(run_job, job.to_dict(), until, prior)

    def wait(self, handles: list) -> list:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, handle) -> dict:
        return handle.result()

    def close(self, interrupted: bool = False) -> None:
        if interrupted:
            processes = list((getattr(self.executor, "_processes", None) or {}).values())
            self.executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:  # a dub in progress is abandoned; its temp files are discarded
                process.terminate()
        else:
            self.executor.shutdown(wait=True)


class DubWorker:
    """A Ray actor's body: a long-lived process that keeps its loaded models between jobs."""

    def __init__(self, env: dict):
        os.environ.update(env)

    def run(self, job: dict, until: str | None = None, prior: dict | None = None) -> dict:
        return run_job(job, until, prior)

    def pid(self) -> int:
        return os.getpid()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BackendError("--ray needs Ray: pip install 'dub[ray]'") from None
    return ray


class RayActors:
    """Jobs on Ray actors (:class:`DubWorker`), one per slot, replaced when one dies."""

    def __init__(self, address: str | None, workers: int | None, njobs: int):
        ray = self.ray = _import_ray()
        self.started = False
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, log_to_driver=False)
                else:
                    ray.init(num_cpus=max(2, workers or 2), include_dashboard=False, log_to_driver=False)
            except Exception as exc:  # a wrong address, a cluster of another Ray version...
                raise BackendError(f"cannot start or join Ray at {address or 'a local instance'}: {one_line(exc)} "
                                   "(start one with 'ray start --head', then pass --ray HEAD:6379)") from None
            self.started = True
        if workers is None:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            workers = max(1, cpus // RAY_CPUS_PER_WORKER)
        self.slots = max(1, min(workers, njobs))
        # Settings such as DUB_CACHE_DIR follow the driver (for a local instance; on a cluster
        # they must name paths that exist on every node).
        self.env = {k: v for k, v in os.environ.items() if k.startswith("DUB_")}
        self.actor_class = ray.remote(num_cpus=1)(DubWorker)
        self.actors = [self.actor_class.remote(self.env) for _ in range(self.slots)]
        self.idle = deque(self.actors)
        self.busy: dict = {}

    def submit(self, job: Job, until: str | None = None, prior: dict | None = None):
        actor = self.idle.popleft()
        ref = actor.run.remote(job.to_dict(), until, prior)
        self.busy[ref] = actor
        return ref

    def wait(self, handles: list) -> list:
        done, _ = self.ray.wait(handles, num_returns=1)
        return done

    def result(self, handle) -> dict:
        actor = self.busy.pop(handle)
        try:
            result = self.ray.get(handle)
        except Exception as exc:  # the actor died (out of memory, a lost node...): replace it
            self.actors.remove(actor)
            fresh = self.actor_class.remote(self.env)
            self.actors.append(fresh)
            self.idle.append(fresh)
            raise WorkerLost(one_line(exc)) from None
        self.idle.append(actor)
        return result

    def close(self, interrupted: bool = False) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception:  # an actor that already died needs no killing; shutdown follows
                pass
        if self.started:
            self.ray.shutdown()


class WorkerLost(Exception):
    """The actor running a job died (out of memory, a lost node): that job fails, the batch goes on."""
