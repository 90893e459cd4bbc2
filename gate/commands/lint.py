"""`gate lint [PATH…]`: the guide's SETUP mode as rules over Kargo and Argo CD manifests.

Exit 0 clean (warnings allowed unless --strict), 1 errors found, 2 usage (unreadable file, bad flag),
3 the cluster could not be read (with --cluster).
"""

from __future__ import annotations

import click

from gate.errors import EXIT_CLOSED, EXIT_PASS, ConfigError
from gate.options import timeout_option


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "sarif"]), default="text",
              show_default=True, help="Output format (sarif: GitHub code scanning; junit: GitLab test view).")
@click.option("--strict", is_flag=True, help="Warnings fail the lint too (exit 1).")
@click.option("--graph", type=click.Choice(["mermaid", "dot"]), is_flag=False, flag_value="mermaid",
              help="Print the pipeline as a Mermaid (default) or Graphviz (dot) diagram instead of findings "
                   "(`gate lint DIR --graph`, `gate lint --graph dot DIR`).")
@click.option("--foundation", multiple=True, metavar="STAGE",
              help="A foundation Stage whose apps may auto-sync (also: annotation promotion-gate/foundation).")
@click.option("--cluster", is_flag=True, help="Lint the live objects of --project as well (read-only).")
@click.option("--project", envvar="GATE_PROJECT", help="Kargo project (with --cluster).")
@click.option("--kubeconfig", envvar="GATE_KUBECONFIG", type=click.Path(dir_okay=False), help="Kubeconfig file.")
@click.option("--context", envvar="GATE_CONTEXT", help="Kubeconfig context.")
@click.option("--config", envvar="GATE_CONFIG", type=click.Path(dir_okay=False),
              help="Settings file (for the Kargo project and Argo CD namespace with --cluster).")
@timeout_option
def lint(paths: tuple[str, ...], fmt: str, strict: bool, graph: str | None, foundation: tuple[str, ...],
         cluster: bool, project: str | None, kubeconfig: str | None, context: str | None,
         config: str | None) -> int:
    """Check a Kargo + Argo CD pipeline's manifests (files, directories, or - for stdin) before they are
    applied: retry on argocd-update steps, the authorized-stage annotation, auto-sync on promoted apps,
    undefined sources and verification templates, cycles, Promotions in git, verification RBAC, CRD schemas.
    """
    from gate.lint import graph as graphs
    from gate.lint import manifests, output, rules
    from gate.lint.pipeline import Pipeline

    if not paths and not cluster:
        raise click.UsageError("give manifest files or directories (or - for stdin), or --cluster")
    objects = manifests.load(paths)
    files = len({m.file for m in objects})
    if cluster:
        objects += _live(project, kubeconfig, context, config)
    pipeline = Pipeline(objects)
    if graph:
        click.echo(graphs.mermaid(pipeline) if graph == "mermaid" else graphs.dot(pipeline), nl=False)
        return EXIT_PASS
    found = rules.run(pipeline, rules.LintOptions(foundation=set(foundation)))
    render = {"text": lambda: output.text(found, files, len(objects), cluster),
              "json": lambda: output.as_json(found, files, len(objects)),
              "junit": lambda: output.junit(found, strict),
              "sarif": lambda: output.sarif(found)}[fmt]
    click.echo(render(), nl=False)
    failing = [f for f in found if f.severity == "error" or strict]
    return EXIT_CLOSED if failing else EXIT_PASS


def _live(project: str | None, kubeconfig: str | None, context: str | None, config: str | None) -> list:
    from gate.cluster.kube import connect
    from gate.lint import live
    from gate.spec.settings import load_settings

    settings = load_settings(config, {"kargo_project": project})
    project = project or settings.get("kargo_project")
    if not project:
        raise ConfigError("--cluster needs the Kargo project: pass --project or set kargo_project",
                          key="--project")
    kube = connect(kubeconfig, context)
    objects, notes = live.read(kube, project, settings.get("argocd_namespace") or "argocd")
    for note in notes:
        click.echo(f"gate lint: {note}", err=True)
    return objects
