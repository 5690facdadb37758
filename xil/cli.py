"""``xil``: the command line, thin over :mod:`xil.services` (and :mod:`xil.bench`, which needs no database)."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import click
import typer
from typer.core import TyperGroup

from xil.ranking.config import RewardConfig


def _debug() -> bool:
    return os.environ.get("XIL_DEBUG", "0") not in ("", "0", "false")


def explain_error(exc: BaseException) -> str:
    """One line a person can act on, for an error that reached the command line."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    if isinstance(exc, (ValueError, OSError, RuntimeError, LookupError)):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}"


# Typer 0.29 carries its own copy of Click; older ones use Click itself: pass both through.
_USAGE_AND_EXITS = (
    typer.Exit,
    typer.Abort,
    getattr(typer.exceptions, "TyperException", click.ClickException),
    click.exceptions.Exit,
    click.ClickException,
    click.Abort,
)


class _Commands(TyperGroup):
    """Every command's unexpected error becomes ``error: ...`` in one or two lines and exit code 1;
    ``--debug`` (or ``XIL_DEBUG=1``) shows the traceback instead."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _USAGE_AND_EXITS:  # Typer's and Click's own: usage errors, --help, Exit
            raise
        except Exception as exc:
            if _debug():
                raise
            typer.secho(f"error: {explain_error(exc)}", fg=typer.colors.RED, err=True)
            typer.echo("(run with --debug, or XIL_DEBUG=1, for the traceback)", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(help="xil: explanatory interactive learning studio.", no_args_is_help=True, cls=_Commands)
bench_app = typer.Typer(help="Benchmarks: print one JSON object of measured numbers.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
rit_app = typer.Typer(help="Revision by retrieval (RiT): corrections that revise later prompts.", no_args_is_help=True)
app.add_typer(rit_app, name="rit")
user_app = typer.Typer(
    help="Accounts of a team studio (`xil serve --address 0.0.0.0` asks everyone to sign in).", no_args_is_help=True
)
app.add_typer(user_app, name="user")
member_app = typer.Typer(help="Who works on which project, with which role.", no_args_is_help=True)
app.add_typer(member_app, name="member")
ROOT = Path(__file__).resolve().parents[1]


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors.")) -> None:
    if debug:
        os.environ["XIL_DEBUG"] = "1"


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@app.command()
def demo() -> None:
    """Seed the Decoy-Digits demo project and its first model (idempotent)."""
    from xil import services

    project = services.seed_demo()
    version = services.latest_model_version(project.id)
    typer.echo(f"demo project {project.name!r} (id {project.id}), model version {version.version}: {version.metrics}")


@app.command()
def worker(
    once: bool = typer.Option(False, help="Run the jobs queued now, then exit."),
    processes: int = typer.Option(
        1,
        min=1,
        help="Data-parallel processes per training job that leaves processes at 1 (accelerate launch: one per GPU).",
    ),
) -> None:
    """Run training jobs from the queue."""
    from xil import services

    if processes > 1:
        os.environ["XIL_PROCESSES"] = str(processes)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    ran = services.run_worker(once=once)
    typer.echo(f"ran {ran} job(s)")


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    address: str = typer.Option(
        "127.0.0.1",
        help="Address to listen on. Anything but loopback starts team mode: everyone signs in (XIL_AUTH=on does it "
        "on loopback too), and an owner account must exist (`xil user add NAME --role owner`).",
    ),
    worker: bool = typer.Option(True, help="Start a worker process beside the app."),
) -> None:
    """Seed the demo and start the Streamlit app (port: STREAMLIT_SERVER_PORT, default 8501). SIGTERM or
    Ctrl-C stops the app and its worker (which hands back a running job)."""
    from xil import services

    team = not _is_loopback(address) or services.team_mode()
    if team and not services.accounts.has_owner():
        _fail(
            f"team mode ({'XIL_AUTH=on' if _is_loopback(address) else f'listening on {address}'}) needs an active "
            "owner account to sign in with: create one: xil user add NAME --role owner"
        )
    services.seed_demo()
    env = {**os.environ, "XIL_START_WORKER": "0"}  # this command owns the worker
    if team:
        env["XIL_AUTH"] = "on"
        typer.echo(f"team mode: everyone signs in ({len(services.accounts.list_users())} account(s))", err=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # run the `finally` below: children go too
    children: list[subprocess.Popen] = []
    try:
        if worker:
            children.append(subprocess.Popen([sys.executable, "-m", "xil.cli", "worker"], env=env))
        streamlit = [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py")]
        children.append(subprocess.Popen([*streamlit, "--server.address", address], env=env))
        children[-1].wait()
    except KeyboardInterrupt:
        pass
    finally:
        _stop(children)


def _stop(children: list[subprocess.Popen], grace_s: float = 30.0) -> None:
    """SIGTERM each child, wait for it (a worker hands back its job), kill what is still there."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _new_password(from_stdin: bool) -> str:
    """The first line of stdin, or asked for twice without echo."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            _fail("--password-stdin: stdin held no password")
        return password
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


_ROLE_HELP = "owner, reviewer or annotator."


@user_app.command("add")
def user_add(
    name: str,
    role: str = typer.Option(..., help=_ROLE_HELP),
    email: str | None = typer.Option(None, help="E-mail address: a single sign-on (OIDC) login matches it."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin's first line."),
    no_password: bool = typer.Option(False, "--no-password", help="No password: single sign-on only (needs --email)."),
) -> None:
    """Add an account (the password is asked for twice, unless --password-stdin or --no-password)."""
    from xil import services

    if no_password and not email:
        _fail("--no-password needs --email: such an account signs in only through single sign-on")
    password = None if no_password else _new_password(password_stdin)
    user = services.accounts.add_user(name, role, password=password, email=email)
    typer.echo(f"added {user.role} {user.name!r}" + (f" <{user.email}>" if user.email else ""))


@user_app.command("list")
def user_list(as_json: bool = typer.Option(False, "--json", help="A JSON list.")) -> None:
    """Every account: role, whether active, e-mail and projects (project: role)."""
    from xil import services

    users = services.accounts.list_users()
    if as_json:
        typer.echo(json.dumps(users))
        return
    if not users:
        typer.echo("no accounts yet: xil user add NAME --role owner")
    for u in users:
        projects = ", ".join(f"{p}: {r}" for p, r in u["projects"].items()) or "-"
        state = "" if u["active"] else " (disabled)"
        email = f" <{u['email']}>" if u["email"] else ""
        typer.echo(f"{u['name']}{email}: {u['role']}{state}; projects: {projects}")


@user_app.command("passwd")
def user_passwd(
    name: str,
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin's first line."),
) -> None:
    """Set a new password (the user's open sessions end)."""
    from xil import services

    services.accounts.set_password(name, _new_password(password_stdin))
    typer.echo(f"new password for {name.strip()!r}; their sessions have ended")


@user_app.command("disable")
def user_disable(name: str) -> None:
    """Disable an account: it can no longer sign in and its sessions end."""
    from xil import services

    services.accounts.set_active(name, False)
    typer.echo(f"disabled {name.strip()!r}")


@user_app.command("enable")
def user_enable(name: str) -> None:
    """Enable a disabled account again."""
    from xil import services

    services.accounts.set_active(name, True)
    typer.echo(f"enabled {name.strip()!r}")


@user_app.command("role")
def user_role(name: str, role: str = typer.Argument(..., help=_ROLE_HELP)) -> None:
    """Change an account's studio-wide role (an owner's is every project's)."""
    from xil import services

    services.accounts.set_role(name, role)
    typer.echo(f"{name.strip()!r} is now {role}")


def _project_id(project: str) -> int:
    """A project named by id or by name."""
    from xil import services

    projects = services.list_projects()
    for p in projects:
        if project.strip() in (str(p.id), p.name):
            return p.id
    known = ", ".join(f"{p.id} ({p.name})" for p in projects) or "none yet"
    _fail(f"no project {project!r}; projects: {known}")


@member_app.command("add")
def member_add(
    project: str = typer.Argument(..., help="Project id or name."),
    name: str = typer.Argument(..., help="User name."),
    role: str | None = typer.Option(None, help=f"{_ROLE_HELP} Default: the account's role."),
) -> None:
    """Give a user a role on a project (replaces the one they had there)."""
    from xil import services

    membership = services.accounts.add_member(_project_id(project), name, role=role)
    typer.echo(f"{name.strip()!r} is {membership.role} on project {membership.project_id}")


@member_app.command("remove")
def member_remove(
    project: str = typer.Argument(..., help="Project id or name."),
    name: str = typer.Argument(..., help="User name."),
) -> None:
    """Take a user off a project (their feedback stays)."""
    from xil import services

    pid = _project_id(project)
    services.accounts.remove_member(pid, name)
    typer.echo(f"{name.strip()!r} is no longer a member of project {pid}")


@member_app.command("list")
def member_list(
    project: str = typer.Argument(..., help="Project id or name."),
    as_json: bool = typer.Option(False, "--json", help="A JSON list."),
) -> None:
    """The project's members with their roles (studio owners included)."""
    from xil import services

    people = services.accounts.members(_project_id(project))
    if as_json:
        typer.echo(json.dumps(people))
        return
    for m in people:
        typer.echo(f"{m['name']}: {m['role']}" + ("" if m["active"] else " (disabled)"))


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Counts of projects, examples, model versions, feedback and jobs by status."""
    from xil import services

    counts = services.status()
    typer.echo(json.dumps(counts) if as_json else "\n".join(f"{k}: {v}" for k, v in counts.items()))


@app.command()
def agreement(
    project: int = typer.Option(1, help="Project id."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Inter-annotator agreement over the examples two or more annotators judged (null: does not apply)."""
    from xil import services

    result = services.agreement(project)
    if as_json:
        typer.echo(json.dumps(result))
        return
    people = result.pop("annotators")
    typer.echo("\n".join(f"{k}: {v}" for k, v in result.items()))
    for person in people:
        typer.echo(", ".join(f"{k}: {v}" for k, v in person.items()))


@app.command("import-folder")
def import_folder(
    folder: Path,
    name: str | None = typer.Option(None, help="Project name (default: the folder's or the zip's name)."),
    resize: str | None = typer.Option(None, help="Resize every image to HxW, e.g. 28x28."),
) -> None:
    """Import an image folder, or a .zip of one (one subfolder per class), and queue its first model;
    nothing is imported if any file is bad. Caps: XIL_MAX_* settings (see the README)."""
    from xil import services

    if not folder.exists():
        _fail(f"{folder}: no such folder or zip file")

    size = None
    if resize:
        try:
            h, w = (int(v) for v in resize.lower().split("x"))
            size = (h, w)
        except ValueError:
            _fail(f"--resize takes HxW, e.g. 28x28, not {resize!r}")
    try:
        project, report = services.import_image_folder(folder, name=name, resize=size)
    except ValueError as exc:  # a bad XIL_MAX_* setting
        _fail(str(exc))
    if project is None:
        for error in report.errors:
            typer.echo(error, err=True)
        _fail(f"{len(report.errors)} problem(s); nothing was imported")
    services.queue_first_model(project.id)
    typer.echo(f"imported {report.n_images} images into project {project.name!r} (id {project.id}); first model queued")


@app.command("import-text")
def import_text(
    path: Path,
    name: str | None = typer.Option(None, help="Project name (default: the file's name)."),
    text_column: str = typer.Option("text"),
    label_column: str = typer.Option("label"),
    id_column: str | None = typer.Option(None),
) -> None:
    """Import a CSV / TSV / JSONL / Parquet text file; nothing is imported if any row is bad. Caps:
    XIL_MAX_UPLOAD_MB for the file, XIL_MAX_TEXT_CHARS for a text."""
    from xil import services

    if not path.is_file():
        _fail(f"{path}: no such file")
    try:
        project, report = services.import_text(
            path, name=name, text_column=text_column, label_column=label_column, id_column=id_column
        )
    except ValueError as exc:  # a bad XIL_MAX_* setting
        _fail(str(exc))
    if project is None:
        for error in report.errors:
            typer.echo(error, err=True)
        _fail(f"{len(report.errors)} problem(s); nothing was imported")
    services.queue_first_model(project.id)
    typer.echo(
        f"imported {len(report.dataset)} texts into project {project.name!r} (id {project.id}); first model queued"
    )


@app.command("import-prompts")
def import_prompts(
    path: Path,
    name: str | None = typer.Option(None, help="Project name (default: the file's name)."),
    generator: str | None = typer.Option(None, help="A causal LM (local path or hub id) to sample candidates."),
    k: int = typer.Option(4, help="Candidates per prompt, with --generator."),
    temperature: float = typer.Option(0.8),
    top_p: float = typer.Option(0.95),
    max_new_tokens: int = typer.Option(48),
) -> None:
    """A ranking project from a JSONL prompt file (prompt + candidates, or prompts only with --generator)."""
    from xil import services
    from xil.ranking.generate import GenerationConfig

    try:
        generation = GenerationConfig(k=k, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
        project = services.import_prompts(path, name=name, generator=generator, generation=generation)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"created ranking project {project.name!r} (id {project.id})")


@app.command("import-mnist")
def import_mnist(
    folder: Path,
    name: str = typer.Option("Decoy-MNIST"),
    limit: int | None = typer.Option(None, help="Use only the first N images."),
) -> None:
    """Create a Decoy-MNIST project from IDX files in FOLDER."""
    from xil import services

    try:
        project = services.import_mnist(folder, name=name, limit=limit, trusted=True)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"created project {project.name!r} (id {project.id})")


@app.command("train-generator")
def train_generator(
    project: int = typer.Option(..., help="Ranking project id."),
    generator: str = typer.Option("", help="Causal LM to start from (default: the project's own generator)."),
    full: bool = typer.Option(False, help="Fine-tune every weight instead of a LoRA adapter."),
    epochs: int = typer.Option(3),
    lr: float = typer.Option(5e-4),
    beta: float = typer.Option(0.1),
    feedback: str = typer.Option("all", help="all, accepted or consensus."),
) -> None:
    """Queue a DPO job that fine-tunes the project's generator on its rankings (a worker runs it)."""
    from xil import services

    try:
        cfg = services.config_class(project, "preference tuning")(
            generator=generator,
            lora=not full,
            epochs=epochs,
            lr=lr,
            beta=beta,
            feedback=feedback,
            chat_template=services.generation.sampling(project).chat_template,  # as the candidates were sampled
        )
        job = services.queue_training(project, cfg)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"queued job {job.id}: run `xil worker` if none is running")


@app.command("new-round")
def new_round(
    project: int = typer.Option(..., help="Ranking project id."),
    source: str = typer.Option("", help="base, or vID of a generator version (default: the newest generator)."),
    k: int = typer.Option(4, help="Candidates per prompt."),
    limit: int | None = typer.Option(None, help="Only the first N prompts."),
    corrections: bool = typer.Option(False, help="Put the retrieved RiT corrections in the prompts."),
) -> None:
    """Sample a new round of candidates to rank from a generator (new examples on the Rank page)."""
    from xil import services

    generation = services.generation
    try:
        if source:
            chosen = generation.AnswerSource(
                generation.AnswerSource.from_key(source).version_id, corrections=corrections
            )
        else:
            chosen = generation.newest_source(project, corrections)
        ids = generation.new_round(project, chosen, k=k, limit=limit)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"added {len(ids)} prompts to rank")


@app.command()
def export(
    out: Path,
    project: int = typer.Option(1, help="Project id."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or parquet."),
    masks: str = typer.Option("array", help="array (nested lists) or png (a zip with PNG files)."),
) -> None:
    """Export the feedback dataset."""
    from xil import services

    try:
        path = services.export_feedback(project, out, fmt=fmt, masks=masks)
    except ValueError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc} (the previous file there, if any, is unchanged)")
    typer.echo(f"wrote {path}")


def _choices(registry: str) -> list[str]:
    """The names in one of the domain's registries, imported only when asked (they import torch, which
    ``xil status`` and the others do without)."""
    if registry == "feedback":
        from xil.feedback import REGISTRY
    elif registry == "text-feedback":
        from xil.feedback.text import REGISTRY
    elif registry == "explain":
        from xil.explain import REGISTRY
    elif registry == "text-explain":
        from xil.explain.text import REGISTRY
    else:
        from xil.models import REGISTRY
    return REGISTRY.names()


def _names(registry: str, extra: tuple[str, ...] = ()) -> dict:
    """Shell completion from a registry (``--help`` stays quick; the config or the benchmark refuses an
    unknown name with the list of choices)."""

    def complete(incomplete: str) -> list[str]:
        return [n for n in (*extra, *_choices(registry)) if n.startswith(incomplete.rsplit(",", 1)[-1])]

    return {"autocompletion": complete}


@app.command()
def methods() -> None:
    """List the feedback methods, explainers and architectures (the choices of `train` and `bench`)."""
    from xil import explain, feedback, models
    from xil.explain import text as text_explain
    from xil.feedback import text as text_feedback

    sections = [
        ("image feedback methods (xil train --method, bench decoy --methods; also: none)", feedback.REGISTRY),
        ("text feedback methods (bench text-shortcut --methods)", text_feedback.REGISTRY),
        ("image architectures (xil train --arch, bench decoy --arch)", models.REGISTRY),
        ("image explainers", explain.REGISTRY),
        ("text explainers", text_explain.REGISTRY),
    ]
    for title, registry in sections:
        typer.echo(f"{title}:")
        for name, entry in registry.items():
            typer.echo(f"  {name:<28} {entry.title}")


@app.command()
def train(
    project: int = typer.Option(1, help="Project id."),
    method: str = typer.Option(
        "rrr", help="none or an image feedback method (`xil methods`).", **_names("feedback", ("none",))
    ),
    arch: str = typer.Option(
        "mlp",
        help="An image architecture (`xil methods`), or hf:FOLDER_OR_HUB_ID, torchvision:NAME, timm:NAME.",
        **_names("models"),
    ),
    epochs: int = typer.Option(30),
    lam: float | None = typer.Option(None, "--lambda", help="Penalty weight (default: automatic)."),
    feedback: str = typer.Option(
        "all", help="Feedback to train on: all, accepted (by a reviewer) or consensus (the annotators' majority)."
    ),
    weights: str | None = typer.Option(None, help="A backbone's starting weights (.safetensors, or .pth)."),
    image_size: int | None = typer.Option(None, help="A backbone's input size (default: its own, 224)."),
    head_only: bool = typer.Option(False, "--head-only", help="Fine-tune only a backbone's classifier head."),
    augment: bool = typer.Option(False, "--augment", help="Random crop and flip, marks moved alike (photos)."),
    processes: int = typer.Option(1, min=1, help="Data-parallel processes (accelerate launch; one per GPU)."),
    machines: int = typer.Option(
        1, min=1, help="Machines to train on, each running --processes (a worker on each joins the job)."
    ),
) -> None:
    """Queue a training job (run it with `xil worker`)."""
    from xil import services
    from xil.train import TrainConfig

    try:
        cfg = TrainConfig(
            method=method,
            arch=arch,
            epochs=epochs,
            lambda_=lam,
            feedback=feedback,
            weights=weights,
            image_size=image_size,
            train_head_only=head_only,
            augment=augment,
            processes=processes,
            machines=machines,
        )
        job = services.queue_training(project, cfg)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"queued job {job.id}")


@bench_app.command("decoy")
def bench_decoy(
    dataset: str = typer.Option("digits", help="digits, mnist or cifar10."),
    data: Path | None = typer.Option(
        None, help="MNIST IDX files (--dataset mnist), or CIFAR-10's train/ and test/ folders (cifar10)."
    ),
    arch: str | None = typer.Option(
        None,
        help="An image architecture (`xil methods`); default: mlp, for cifar10 resnet18 (resnet18_half on the CPU).",
        **_names("models"),
    ),
    device: str = typer.Option("auto", help="cpu, cuda or auto."),
    epochs: int | None = typer.Option(
        None, help="Default: 64 (MLP), 30 (CNN, convnet), 15 (backbones; 30 for cifar10 on the CPU)."
    ),
    seeds: int = typer.Option(1, help="Repeat with training seeds 0..N-1; report mean and std."),
    image_size: int | None = typer.Option(
        None, help="A backbone's input size (default: its own; 32 for cifar10 on the CPU)."
    ),
    per_class: int | None = typer.Option(
        None, help="cifar10: training images per class (default: 200 on the CPU, all 2,000 on a GPU)."
    ),
    feedback_fraction: str | None = typer.Option(
        None, help="Comma-separated fractions of training examples given feedback, e.g. 0.01,0.1,1."
    ),
    methods: str = typer.Option(
        "", help="Comma-separated image feedback methods (`xil methods`); default: all.", **_names("feedback")
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Decoy benchmark: clean, vanilla and each feedback method; accuracy and wrong-reason score."""
    from xil.bench import decoy

    try:
        result = decoy.run(
            dataset=dataset,
            data=data,
            arch=arch,
            device=device,
            epochs=epochs,
            methods=[m for m in methods.split(",") if m] or None,
            fractions=[float(f) for f in feedback_fraction.split(",")] if feedback_fraction else None,
            seeds=seeds,
            image_size=image_size,
            per_class=per_class,
        )
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("efficiency")
def bench_efficiency(
    dataset: str = typer.Option("digits", help="digits or mnist."),
    data: Path | None = typer.Option(None, help="Folder with MNIST IDX files (for --dataset mnist)."),
    arch: str = typer.Option("mlp", help="An image architecture (`xil methods`).", **_names("models")),
    device: str = typer.Option("auto", help="cpu, cuda or auto."),
    epochs: int | None = typer.Option(None, help="Default: 64 (MLP) or 30 (CNN, convnet)."),
    methods: str = typer.Option(
        "rrr,rrr_g,hint,ce", help="Comma-separated image feedback methods (`xil methods`).", **_names("feedback")
    ),
    n: str = typer.Option("25,100,400,1600", "--n", help="Comma-separated numbers of examples with feedback."),
    seed: int = typer.Option(0, help="The first training seed (it also draws the examples with feedback)."),
    seeds: int = typer.Option(1, help="Repeat with training seeds SEED..SEED+N-1; report mean and std."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Interaction efficiency: accuracy after feedback on n training examples, one curve per method."""
    from xil.bench import efficiency

    try:
        result = efficiency.run(
            dataset=dataset,
            data=data,
            arch=arch,
            device=device,
            epochs=epochs,
            methods=[m for m in methods.split(",") if m] or None,
            ns=[int(v) for v in n.split(",") if v],
            seed=seed,
            seeds=seeds,
        )
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("text-shortcut")
def bench_text_shortcut(
    data: Path = typer.Option(..., help="Folder with rt-polarity.pos and rt-polarity.neg."),
    device: str = typer.Option("auto", help="cpu, cuda or auto."),
    n: int = typer.Option(1500, help="Sentences used (balanced subset); 0: all 10,662."),
    epochs: int = typer.Option(2),
    max_length: int = typer.Option(48, help="Tokens per sentence."),
    methods: str = typer.Option(
        "", help="Comma-separated text feedback methods (`xil methods`); default: all.", **_names("text-feedback")
    ),
    backbone: str = typer.Option("minilm", help="minilm (bundled), a local folder or a hub id."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Text shortcut benchmark: clean, vanilla and each token-feedback method on sentence polarity
    with a planted shortcut word; accuracy and share of attribution on the shortcut."""
    from xil.bench import text_shortcut

    try:
        result = text_shortcut.run(
            data=data,
            n=n or None,
            device=device,
            epochs=epochs,
            max_length=max_length,
            methods=tuple(m for m in methods.split(",") if m) or None,
            backbone=backbone,
        )
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("latency")
def bench_latency(
    as_json: bool = typer.Option(False, "--json"),
    text: bool = typer.Option(True, help="Also time the four text explainers on the MiniLM classifier."),
) -> None:
    """Explanation and save-and-next latency on the CPU for the demo models."""
    from xil.bench import latency

    result = latency.run(text=text)
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@rit_app.command("add")
def rit_add(
    text: str,
    kind: str = typer.Option("rule", help="rule (a stated rule) or answer (a corrected answer to --prompt)."),
    prompt: str | None = typer.Option(None, help="The prompt a corrected answer answers."),
) -> None:
    """Add a correction to the revision corpus."""
    from xil.services import revision

    try:
        item_id = revision.add_correction(text, kind, prompt)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"added correction {item_id}")


@rit_app.command("query")
def rit_query(
    prompt: str,
    threshold: float = typer.Option(0.6, help="Minimum cosine similarity to retrieve a correction."),
    k: int = typer.Option(3, help="At most this many corrections."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Retrieve corrections for PROMPT and print the revised prompt."""
    from xil.services import revision

    try:
        result = revision.revise(prompt, threshold, k)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("reward")
def bench_reward(
    train: Path = typer.Option(..., help="JSONL(.gz) with chosen/rejected dialogue strings."),
    eval: Path | None = typer.Option(None, help="Held-out JSONL(.gz); default: every fifth line of --train."),
    device: str = typer.Option("auto"),
    n_train: int | None = typer.Option(None, help="Use only the first N training pairs."),
    max_length: int = typer.Option(RewardConfig.max_length),
    epochs: int = typer.Option(RewardConfig.epochs),
    lr: float = typer.Option(RewardConfig.lr),
    batch_prompts: int = typer.Option(RewardConfig.batch_prompts),
    backbone: str = typer.Option(RewardConfig.backbone),
    seed: int = typer.Option(0, help="The reward head's initialisation, the order and dropout."),
    quick: bool = typer.Option(False, help="A quick CPU run: 128 tokens, 1 epoch."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Bradley-Terry reward model on the MiniLM backbone: pairwise accuracy before and after training."""
    from xil.bench import reward

    args = {
        "n_train": n_train,
        "max_length": max_length,
        "epochs": epochs,
        "lr": lr,
        "batch_prompts": batch_prompts,
        "backbone": backbone,
        "seed": seed,
    }
    if quick:
        args.update(reward.QUICK)
    result = reward.run(train, eval, device=device, **args)
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("dpo")
def bench_dpo(
    device: str = typer.Option("auto"),
    seed: int = typer.Option(0),
    reward_backbone: str = typer.Option(
        "minilm", help="The best-of-n reward model's backbone (a folder on a GPU box)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The generator learns from rankings: DPO and best-of-n on a synthetic language judged by rule."""
    from xil.bench import dpo

    result = dpo.run(seed=seed, device=device, reward_backbone=reward_backbone)
    typer.echo(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("scale")
def bench_scale(
    images: int = typer.Option(20_000, help="Synthetic RGB photos to write, import and train on."),
    size: int = typer.Option(224, help="Their width and height in pixels."),
    batch_size: int = typer.Option(32, help="The training batch."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Data larger than memory: import, next example and one training epoch, with peak memory."""
    from xil.bench import scale

    if images < 20 or size < 8:
        raise typer.BadParameter("at least 20 images of at least 8x8 pixels")
    typer.echo(json.dumps(scale.scale(images, size, batch_size), indent=None if as_json else 2))


@bench_app.command("rit")
def bench_rit(
    threshold: float = typer.Option(0.6),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Retrieval precision and recall of the RiT index on paraphrased and unrelated queries."""
    from xil.bench import rit

    typer.echo(json.dumps(rit.run(threshold=threshold), indent=None if as_json else 2))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
