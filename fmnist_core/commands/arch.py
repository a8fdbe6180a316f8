"""`arch show NAME|FILE` and `arch list`: architectures as layer tables, without TensorFlow."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `arch` subcommand (light: the handlers need no TensorFlow either)."""
    parser = sub.add_parser("arch", help="show or list architectures: layers, shapes, parameters, multiply-adds")
    actions = parser.add_subparsers(dest="arch_command", required=True)
    show = actions.add_parser("show", help="the layer table of a built-in or saved architecture, or a JSON file")
    show.add_argument("name", help="a built-in name (seed_cnn, fast_cnn, ...), a saved name, or a .json file")
    show.add_argument("--json", action="store_true", help="print the specification itself (a starting file)")
    show.set_defaults(handler=show_architecture)
    listing = actions.add_parser("list", help="built-in and saved architectures with their size and cost")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_architectures)


def _library(args: argparse.Namespace):
    from ..archspec_store import ArchitectureLibrary

    return ArchitectureLibrary(args.runs_dir) if getattr(args, "runs_dir", None) else ArchitectureLibrary()


def show_architecture(args: argparse.Namespace) -> int:
    from ..archspec import layer_table, table_text
    from ..archspec_store import resolve_architecture

    spec = resolve_architecture(args.name, _library(args))
    if args.json:
        print(spec.to_json())
        return 0
    table = layer_table(spec)
    print(f"{spec.name}" + (f": {spec.title}" if spec.title and spec.title != spec.name else ""))
    print(table_text(spec))
    return 0 if table.ok else 1


def list_architectures(args: argparse.Namespace) -> int:
    choices = _library(args).choices()
    rows = [{"name": c.name, "title": c.title, "builtin": c.builtin, "layers": len(c.spec.layers),
             "parameters": c.parameters, "multiply_adds": c.multiply_adds} for c in choices.values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':24} {'kind':8} {'layers':>6} {'parameters':>12} {'multiply-adds':>14}  title")
    for row in rows:
        kind = "built-in" if row["builtin"] else "saved"
        print(f"{row['name']:24} {kind:8} {row['layers']:>6} {row['parameters']:>12,} {row['multiply_adds']:>14,}  "
              f"{row['title']}")
    return 0
