"""A table notebook's evaluation as one command, to launch on every GPU with `accelerate`.

    accelerate launch --multi_gpu -m mbe.studies.evaluate --table table_1 \\
        --checkpoint google/vit-base-patch16-224 --dataset /data/imagenet/val \\
        --paper-row "ViT-B/16" --timesteps 16 --out results/table1-vit-b16.json

builds the same tasks and rows as the table notebooks (`mbe.studies.tables.tasks` and
`rows`): a real checkpoint on a data set, or named stand-ins. Each process evaluates its share
of the batches on its own device (`mbe.studies.parallel`); the gathered metrics equal a single
process's. Run without a launcher, it is one process on the model's device. The first process
writes the rows, each with the run record (`mbe.records.run_info`), as the notebooks do.
"""
from __future__ import annotations

import argparse
import json

from .. import records
from ..conversion import ConversionConfig
from . import parallel, tables


def _names(text: str) -> list[str]:
    return [name for name in text.split(",") if name]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mbe.studies.evaluate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True,
                        choices=["table_1", "table_2", "table_3", "table_4"],
                        help="the paper's table the rows are compared with")
    parser.add_argument("--checkpoint", default="",
                        help="a Hugging Face id or local path (else --standins)")
    parser.add_argument("--dataset", default="",
                        help="the checkpoint's data: a mbe.data name, a `datasets` name or an "
                             "ImageNet-style image folder")
    parser.add_argument("--paper-row", default=None, help="the paper's row it stands for")
    parser.add_argument("--standins", type=_names, default=[],
                        help="stand-in names, comma-separated (mbe.studies.standins)")
    parser.add_argument("--timesteps", type=int, default=16)
    parser.add_argument("--configurations", type=_names, default=["default"],
                        help=f"comma-separated, of {', '.join(tables.CONFIGURATIONS)}")
    parser.add_argument("--base-config", type=json.loads, default={},
                        help='the "default" configuration\'s fields as JSON, e.g. '
                             '\'{"activation_basis": 4}\' (mbe.ConversionConfig)')
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--n-calibration", type=int, default=None,
                        help="calibration examples (default: the task builder's)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="examples per batch (default: the task builder's)")
    parser.add_argument("--max-length", type=int, default=None,
                        help="text checkpoints: tokens per example")
    parser.add_argument("--data-dir", default=None, help="the data directory (mbe.data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="the stand-ins' tiny variants")
    parser.add_argument("--out", required=True, help="the JSON file the rows are written to")
    return parser


def main(argv=None) -> list[dict]:
    parser = _parser()
    args = parser.parse_args(argv)
    sizes = {k: v for k, v in (("n_calibration", args.n_calibration),
                               ("batch_size", args.batch_size)) if v is not None}
    try:
        tables.check_parameters(args.standins, args.checkpoint, [args.timesteps],
                                args.configurations, args.max_examples,
                                sizes.get("n_calibration", 1), sizes.get("batch_size", 1), None)
    except ValueError as err:  # the message names the parameter and the fix
        parser.error(str(err))
    checkpoint_options = {} if args.max_length is None else {"max_length": args.max_length}
    task_list = tables.tasks(args.standins, table=args.table, checkpoint=args.checkpoint,
                             dataset=args.dataset, paper_row=args.paper_row,
                             timesteps=args.timesteps, quick=args.quick, seed=args.seed,
                             data_dir=args.data_dir, checkpoint_options=checkpoint_options,
                             max_examples=args.max_examples, **sizes)
    main_process = parallel.is_main()
    rows = tables.rows(task_list, args.configurations, args.table, args.timesteps,
                       ConversionConfig(**args.base_config),
                       log=print if main_process else None)
    if main_process:
        run = records.run_info(vars(args), args.seed)
        records.save(args.out, [r | {"run": run} for r in rows])
    return rows


if __name__ == "__main__":
    main()
