"""What the training-step peers share: their command line and the timing (median samples/s of
repeats after warm-up), so both measure exactly as `dltrain bench step` does."""
import argparse
import os
import time


def step_arguments(models, extra=()):
    """The shared options, plus (flag, argparse keywords) pairs a peer adds."""
    p = argparse.ArgumentParser()
    p.add_argument("model", choices=sorted(models))
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    for flag, options in extra:
        p.add_argument(flag, **options)
    return p.parse_args()


def median_rate(step, args, sync=lambda: None):
    """`sync` waits for queued device work (GPU peers), so each repeat's time covers it all."""
    for _ in range(args.warmup):
        step()
    sync()
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        rates.append(args.batch * args.steps / (time.perf_counter() - start))
    return sorted(rates)[len(rates) // 2]
