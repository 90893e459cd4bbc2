"""`gate lint [PATH…]`: the guide's SETUP mode as rules over Kargo and Argo CD manifests.

Exit 0 clean (warnings allowed unless --strict; info never fails), 1 errors found (a file that cannot be
read or parsed is an error finding, and the run goes on), 2 usage (a path that does not exist, a bad
flag), 3 the cluster could not be read (with --cluster).
"""

from __future__ import annotations

import os
import sys

import click

from gate.errors import EXIT_CLOSED, EXIT_PASS, ConfigError
from gate.options import timeout_option


@click.command()
@click.argument("paths", nargs=-1)
@click.option("-o", "--output", "--format", "fmt", type=click.Choice(["text", "json", "junit", "sarif"]),
              default="text",
              show_default=True, help="Output format (sarif: GitHub code scanning; junit: GitLab test view).")
@click.option("--strict", is_flag=True, help="Warnings fail the lint too (exit 1); a missing retry is an error.")
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
    A gate spec (gate.yaml) among the paths is checked offline.
    """
    from gate.lint import graph as graphs
    from gate.lint import manifests, output, progress, rules
    from gate.lint.pipeline import Pipeline

    if not paths and not cluster:
        raise click.UsageError("give manifest files or directories (or - for stdin), or --cluster")
    with progress.Progress(sys.stderr) as shown:
        read = manifests.load(paths, progress=shown.file)
        objects = read.manifests
        notes: list = []
        if cluster:
            shown.phase("reading the cluster")
            live, notes = _live(project, kubeconfig, context, config)
            objects += live
            read.problems += [n for n in notes if n.rule]
        shown.phase("checking")
        pipeline = Pipeline(objects, [p for p in paths if p != manifests.STDIN and os.path.isdir(p)],
                            read.problems, read.specs)
        if graph:
            text = graphs.mermaid(pipeline) if graph == "mermaid" else graphs.dot(pipeline)
        else:
            found = rules.run(pipeline, rules.LintOptions(foundation=set(foundation), strict=strict))
    for note in notes:  # after the progress line is cleared
        click.echo(f"gate lint: {note.message}", err=True)
    if graph:
        click.echo(text, nl=False)
        return EXIT_PASS
    render = {"text": lambda: output.text(found, read.files, len(objects), cluster, len(read.specs)),
              "json": lambda: output.as_json(found, read.files, len(objects)),
              "junit": lambda: output.junit(found, strict),
              "sarif": lambda: output.sarif(found)}[fmt]
    click.echo(render(), nl=False)
    failing = [f for f in found if f.severity == "error" or (strict and f.severity == "warning")]
    return EXIT_CLOSED if failing else EXIT_PASS


def _live(project: str | None, kubeconfig: str | None, context: str | None, config: str | None) -> tuple:
    from gate.cluster.kube import connect
    from gate.lint import live
    from gate.spec.settings import load_settings

    settings = load_settings(config, {"kargo_project": project})
    project = project or settings.get("kargo_project")
    if not project:
        raise ConfigError("--cluster needs the Kargo project: pass --project or set kargo_project",
                          key="--project")
    kube = connect(kubeconfig, context)
    return live.read(kube, project, settings.get("argocd_namespace") or "argocd")
