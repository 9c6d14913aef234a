"""``%%mlops pytorchjob``: the cell as the training script of a distributed PyTorchJob."""

from __future__ import annotations

import os

from IPython.core.magic_arguments import magic_arguments

from ..jobs import PyTorchJob
from .cellscript import cell_command, write_cell_script
from .commands import CELL, output_argument, subcommand
from .parsing import MagicInputError
from .submitting import present, resource_arguments, submit, workload


@subcommand(
    "pytorchjob",
    cell=CELL,
    example="%%mlops pytorchjob --gpus 4 --workers 2 --gpu-type NVIDIA-A100-SXM4-80GB",
)
@magic_arguments("%mlops pytorchjob")
@output_argument()
@resource_arguments
def pytorchjob(magics, args, cell):
    """Run the cell as a PyTorchJob: one process per GPU on every worker.

    The cell becomes a script shipped with a snapshot of the working directory
    (honouring .gitignore), so local imports and relative paths work. With at
    most one GPU per worker each pod runs ``python <cell>``, and the Training
    Operator's MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK are all that
    torch.distributed.init_process_group() needs (no arguments); with more,
    torchrun starts one process per GPU and also sets LOCAL_RANK.
    """
    if not cell.strip():
        raise MagicInputError("%%mlops pytorchjob: the cell is empty; write the training script in it.")
    workdir = os.getcwd()
    script = write_cell_script(workdir, cell)
    spec = PyTorchJob(
        command=cell_command(script, workers=args.workers, gpus_per_worker=args.gpus),
        name=args.name,
        replicas=args.workers,
        **workload(magics, args, workdir, script),
    )
    present(magics, submit(magics, spec, args), args.bg)
