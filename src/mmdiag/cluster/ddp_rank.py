"""One DDP rank's process: `python -m torch.distributed.run ... -m mmdiag.cluster.ddp_rank PAYLOAD.json`.

Started by `mmdiag.cluster.ddp.launch` (never imported by it): the rank joins the process group (NCCL on
CUDA, gloo otherwise), pins its device and calls the job's `module:function` with the job's keyword
arguments, read from the payload. As the top of its own process it may import the workflow bridge.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path


def _rank_main(payload: str) -> int:
    """One rank: join the process group, pin the device, call the function, leave the group."""
    import torch
    import torch.distributed as dist

    from mmdiag.workflow import resolve

    spec = json.loads(Path(payload).read_text(encoding="utf-8"))
    local_rank = int(os.environ["LOCAL_RANK"])
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        force=True,
        format=f"%(asctime)s rank{os.environ['RANK']} %(levelname)s %(name)s: %(message)s",
    )
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    try:
        resolve(spec["target"])(**spec["kwargs"])
    finally:
        dist.destroy_process_group()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m torch.distributed.run ... -m mmdiag.cluster.ddp_rank PAYLOAD.json", file=sys.stderr)
        return 2
    return _rank_main(args[0])


if __name__ == "__main__":
    sys.exit(main())
