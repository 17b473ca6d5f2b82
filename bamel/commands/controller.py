"""``bamel controller``: the autoscaler's controller service (the Deployment's command).

Flags are the process's settings (where to listen, which cluster, which tokens);
the autoscaling policy lives in the AutoscalerConfig, from a file or a ConfigMap,
and is hot-reloaded. SIGTERM and SIGINT stop it cleanly: actions in flight are
cancelled where their records say they were, and the next leader resumes them.

Only a configuration error (the document, a flag, a file a flag names) is "bad
settings", exit 2 with its message; a Kubernetes error is exit 1 with its message.
Anything else is a bug and leaves with its traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from bamel.logs import FORMATS, configure
from controller.config import ConfigError, SettingsError
from controller.ingest.collector import pace_collector
from controller.ingest.retention import FORGET_AFTER
from controller.kube.errors import KubeError
from controller.lostnodes import LOST_AFTER
from controller.service import ControllerService, ServiceSettings


def register(subparsers: Any) -> None:
    """Add ``controller``."""
    parser = subparsers.add_parser("controller", help="run the controller service")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, metavar="FILE",
                        help="AutoscalerConfig YAML file (watched for changes)")
    source.add_argument("--configmap", metavar="NAMESPACE/NAME",
                        help="ConfigMap holding the AutoscalerConfig under config.yaml")
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, else in-cluster")
    parser.add_argument("--listen", default="0.0.0.0:8080", metavar="HOST:PORT",
                        help="ingest, /metrics, /healthz, /readyz, /explain (default %(default)s)")
    parser.add_argument("--agent-tokens", type=Path, metavar="PATH",
                        help="node → token: a Secret mounted as a directory, or a YAML file")
    parser.add_argument("--token-review", action="store_true",
                        help="also accept agents' pod-bound ServiceAccount tokens "
                             "(audience bamel-controller), checked by TokenReview")
    parser.add_argument("--agent-service-account", default="bamel-system/bamel-agent",
                        metavar="NAMESPACE/NAME",
                        help="the agents' ServiceAccount, for --token-review")
    parser.add_argument("--namespace", default="bamel-system",
                        help="namespace of the Lease and of Events (default %(default)s)")
    parser.add_argument("--identity", help="leader-election identity (default $POD_NAME "
                                           "or the host name)")
    parser.add_argument("--no-leader-elect", dest="leader_elect", action="store_false",
                        help="act without a Lease (one replica only)")
    parser.add_argument("--state-file", type=Path, metavar="FILE",
                        help="keep machine records in this file instead of BareMetalNode status")
    parser.add_argument("--dry-run", action="store_true",
                        help="decide and log 'would'; no power call, no eviction")
    parser.add_argument("--once", action="store_true",
                        help="one planning pass, print its decisions as JSON lines, exit")
    parser.add_argument("--node-lost-after", type=_seconds, default=LOST_AFTER,
                        metavar="SECONDS",
                        help="a Ready machine whose Node stays NotReady or missing this long "
                             f"is recorded as lost (default {LOST_AFTER:g})")
    parser.add_argument("--forget-nodes-after", type=_seconds, default=FORGET_AFTER,
                        metavar="SECONDS",
                        help="forget the pressure state of a node whose agent has been silent "
                             f"this long (default {FORGET_AFTER:g})")
    parser.add_argument("--log-format", choices=FORMATS, default="text")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"))
    parser.set_defaults(handler=run_controller)


def run_controller(args: argparse.Namespace) -> int:
    """Exit 0 on a clean stop, 1 on lost leadership or failure, 2 on bad settings."""
    configure(fmt=args.log_format, level=args.log_level)
    pace_collector()  # thousands of agent streams: see controller/ingest/collector.py
    try:
        host, port = _listen(args.listen)
        options: dict[str, Any] = {}
        if args.identity:
            options["identity"] = args.identity
        settings = ServiceSettings(
            config_file=args.config, configmap=args.configmap, kubeconfig=args.kubeconfig,
            listen_host=host, listen_port=port, agent_tokens=args.agent_tokens,
            token_review=args.token_review, agent_service_account=args.agent_service_account,
            namespace=args.namespace, leader_elect=args.leader_elect,
            state_file=args.state_file, dry_run=args.dry_run, once=args.once,
            node_lost_after=args.node_lost_after,
            forget_nodes_after=args.forget_nodes_after, **options)
        return asyncio.run(_serve(ControllerService(settings)))
    except ConfigError as error:
        print(f"bamel controller: {error}", file=sys.stderr)
        return 2
    except KubeError as error:
        print(f"bamel controller: Kubernetes: {error}", file=sys.stderr)
        return 1


async def _serve(service: Any) -> int:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stop)
    code: int = await service.run()
    return code


def _seconds(value: str) -> float:
    """A positive number of seconds, or an argparse error naming the value."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value!r}: must be above 0")
    return seconds


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"--listen: expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)
