"""`gate scaffold stage NAME`: a new Stage the guide's way (S2), ready for `gate lint` and `kubectl apply`."""

from __future__ import annotations

import click

from gate.errors import ConfigError
from gate.options import RunOptions


@click.group()
def scaffold() -> None:
    """Write manifests for a new part of the pipeline."""


@scaffold.command("stage")
@click.argument("name")
@click.option("--upstream", multiple=True, metavar="STAGE", help="Upstream Stage (repeat; none: direct from "
              "the Warehouse).")
@click.option("--app", "apps", multiple=True, required=True, metavar="APP",
              help="Argo CD Application the Stage promotes (repeat).")
@click.option("--warehouse", help="Warehouse the Freight comes from (default: warehouse_name setting).")
@click.option("--weight", type=click.Choice(["simple", "medium", "heavy", "very-heavy"]),
              help="App weight, which sets the promotion's retry count (default: from each app's name).")
@click.option("--image", required=True, help="The gate image for verification, e.g. "
              "ghcr.io/promotion-gate/promotion-gate:0.1.0.")
@click.option("--project", envvar="GATE_PROJECT", help="Kargo project (default: kargo_project setting).")
@click.option("--argocd-namespace", help="Namespace of the Applications (default: argocd_namespace or argocd).")
@click.option("--config", envvar="GATE_CONFIG", type=click.Path(dir_okay=False), help="Settings file.")
@click.option("--spec", envvar="GATE_SPEC", type=click.Path(dir_okay=False),
              help="Spec file with the stage's levels (default: gate.yaml): verification and RBAC come from it.")
def stage_cmd(name: str, upstream: tuple[str, ...], apps: tuple[str, ...], warehouse: str | None,
              weight: str | None, image: str, project: str | None, argocd_namespace: str | None,
              config: str | None, spec: str | None) -> None:
    """The Stage NAME, its verification (AnalysisTemplate + ServiceAccount + least-privilege RBAC from the
    spec's levels for NAME), and the authorized-stage annotation its Applications need."""
    from gate.cluster.rbac import dump_yaml
    from gate.lint.scaffold import StagePlan, annotation_comment, stage_document
    from gate.render import verification_documents
    from gate.session import Session

    try:
        session = Session.open(RunOptions(stage=name, config=config, spec=spec, project=project),
                               need_cluster=False)
    except ConfigError as exc:
        if exc.key != "--stage":
            raise
        raise ConfigError(f"{exc.detail}. The stage's verification and RBAC come from the spec: add a "
                          f"stage {name!r} with its levels to the spec first", file=exc.file) from None
    settings = session.settings
    namespace = project or settings.get("kargo_project")
    warehouse = warehouse or settings.get("warehouse_name")
    if not namespace:
        raise ConfigError("the Kargo project is unknown: pass --project or set kargo_project", key="--project")
    if not warehouse:
        raise ConfigError("the Warehouse is unknown: pass --warehouse or set warehouse_name", key="--warehouse")
    template, verification = verification_documents(session, stage=name, image=image, namespace=namespace)
    plan = StagePlan(name=name, namespace=namespace, warehouse=warehouse, upstreams=list(upstream),
                     apps=list(apps), argocd_namespace=argocd_namespace or settings.get("argocd_namespace")
                     or "argocd", weight=weight, template=template)
    from gate.cluster.destination_rbac import destination_yaml  # a `cluster:` stage's destination RBAC

    click.echo(annotation_comment(plan) + dump_yaml([stage_document(plan), *verification])
               + destination_yaml(session.plan, template, settings), nl=False)
