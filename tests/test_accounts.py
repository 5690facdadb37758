"""Accounts, roles and sign-in for a team studio (issue 10): the services, the `xil user` / `xil member`
commands, `xil serve` in team mode, and the sign-in the pages share (AppTest, XIL_AUTH=on)."""

from __future__ import annotations

import json
import subprocess

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from db import User, session_scope
from tests.conftest import PROJECT_ROOT
from xil import cli, services
from xil.services import access
from xil.services.accounts import FAILURES_PER_MINUTE, LoginError

APP = str(PROJECT_ROOT / "streamlit_app.py")
PASSWORD = "correct horse battery"
runner = CliRunner()


def team(project_id: int) -> dict[str, services.Actor]:
    """An owner, a reviewer and an annotator who are members of the project, and an annotator who is not."""
    roles = {"olga": "owner", "rita": "reviewer", "ada": "annotator", "nemo": "annotator"}
    for name, role in roles.items():
        services.accounts.add_user(name, role, password=PASSWORD)
        if name != "nemo":
            services.accounts.add_member(project_id, name)
    return {name: services.accounts.authenticate(name, PASSWORD) for name in roles}


def stored_hash(name: str) -> str:
    with session_scope() as session:
        return session.scalar(select(User.password_hash).where(User.name == name))


# --- accounts and sign-in ---


def test_users_are_listed_with_their_projects_and_never_a_hash(demo):
    services.accounts.add_user("olga", "owner", password=PASSWORD)
    services.accounts.add_user("bob", "annotator", email="Bob@Lab.org")  # single sign-on only
    services.accounts.add_member(demo.project_id, "bob")
    users = {u["name"]: u for u in services.accounts.list_users()}
    assert users["olga"]["role"] == "owner" and users["olga"]["active"]
    assert users["bob"]["email"] == "bob@lab.org"
    assert users["bob"]["projects"] == {services.get_project(demo.project_id).name: "annotator"}
    assert not any("hash" in key or "password" in key for u in users.values() for key in u)
    with pytest.raises(ValueError, match="exists already"):
        services.accounts.add_user("olga", "reviewer", password=PASSWORD)
    with pytest.raises(ValueError, match="role must be one of"):
        services.accounts.add_user("eve", "admin", password=PASSWORD)
    with pytest.raises(ValueError, match="8 characters"):
        services.accounts.add_user("eve", "annotator", password="short")


def test_a_password_is_stored_only_as_an_argon2_hash(xil_home):
    services.accounts.add_user("ada", "annotator", password=PASSWORD)
    stored = stored_hash("ada")
    assert stored.startswith("$argon2")
    assert PASSWORD not in stored
    assert PASSWORD.encode() not in (xil_home / "xil.sqlite").read_bytes()


def test_a_wrong_password_and_an_unknown_name_are_refused_alike(xil_home):
    services.accounts.add_user("ada", "annotator", password=PASSWORD)
    assert services.accounts.authenticate(" ada ", PASSWORD).name == "ada"
    with pytest.raises(LoginError) as wrong:
        services.accounts.authenticate("ada", PASSWORD + "!")
    with pytest.raises(LoginError) as unknown:
        services.accounts.authenticate("nobody", PASSWORD)
    assert str(wrong.value) == str(unknown.value)  # says nothing of whether the name exists
    actions = [e.action for e in services.audit_log()]
    assert actions.count("login_failed") == 2 and "login" in actions


def test_a_disabled_account_cannot_sign_in_until_enabled(xil_home):
    services.accounts.add_user("ada", "annotator", password=PASSWORD)
    services.accounts.set_active("ada", False)
    with pytest.raises(LoginError):
        services.accounts.authenticate("ada", PASSWORD)
    services.accounts.set_active("ada", True)
    assert services.accounts.authenticate("ada", PASSWORD).name == "ada"


def test_five_failures_lock_the_name_even_for_the_right_password(xil_home):
    services.accounts.add_user("ada", "annotator", password=PASSWORD)
    services.accounts.add_user("bob", "annotator", password=PASSWORD)
    for _ in range(FAILURES_PER_MINUTE):
        with pytest.raises(LoginError, match="wrong name or password"):
            services.accounts.authenticate("ada", "guess-guess")
    with pytest.raises(LoginError, match="too many failed sign-ins"):
        services.accounts.authenticate("ada", PASSWORD)
    assert services.accounts.authenticate("bob", PASSWORD).name == "bob"  # only that name is locked
    assert "login_throttled" in [e.action for e in services.audit_log()]


def test_a_session_token_signs_its_user_in_and_ends_with_a_new_password(xil_home):
    services.accounts.add_user("ada", "annotator", password=PASSWORD)
    ada = services.accounts.authenticate("ada", PASSWORD)
    token = services.accounts.session_token(ada)
    assert PASSWORD not in token
    assert services.accounts.actor_from_token(token) == ada
    services.accounts.set_password("ada", "another good password")
    assert services.accounts.actor_from_token(token) is None
    assert services.accounts.actor_from_token(services.accounts.session_token(ada)) == ada


def test_a_token_ends_when_the_account_is_disabled(xil_home):
    services.accounts.add_user("ada", "annotator", password=PASSWORD)
    token = services.accounts.session_token(services.accounts.authenticate("ada", PASSWORD))
    services.accounts.set_active("ada", False)
    assert services.accounts.actor_from_token(token) is None


def test_a_tampered_or_foreign_token_signs_no_one_in(xil_home, monkeypatch):
    services.accounts.add_user("ada", "annotator", password=PASSWORD)
    services.accounts.add_user("olga", "owner", password=PASSWORD)
    token = services.accounts.session_token(services.accounts.authenticate("ada", PASSWORD))
    payload, rest = token.split(".", 1)
    for forged in (
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # another signature
        payload.replace(payload[0], "X" if payload[0] != "X" else "Y", 1) + "." + rest,  # another payload
        "",
        None,
        "not-a-token",
    ):
        assert services.accounts.actor_from_token(forged) is None, forged
    assert (xil_home / "secret_key").stat().st_mode & 0o077 == 0  # the key made for this studio: owner only
    monkeypatch.setenv("XIL_SECRET_KEY", "another studio's key")
    assert services.accounts.actor_from_token(token) is None


# --- roles ---


def test_an_annotator_may_judge_and_nothing_an_owner_does(demo):
    pid = demo.project_id
    ada = team(pid)["ada"]
    access.require(ada, pid, "judge")
    for permission in ("review", "see_all", "import", "train", "export", "manage"):
        assert not services.can(ada, pid, permission)
        with pytest.raises(services.PermissionDenied, match="ada is annotator"):
            access.require(ada, pid, permission)
    with pytest.raises(services.PermissionDenied):
        services.accounts.add_member(pid, "nemo", actor=ada)
    with pytest.raises(services.PermissionDenied):
        services.accounts.add_user("eve", "owner", password=PASSWORD, actor=ada)
    with pytest.raises(services.PermissionDenied):
        services.audit_log(ada)
    assert access.judge_name(ada, "someone else", pid) == "ada"  # never a typed name


def test_a_reviewer_may_review_but_not_train(demo):
    pid = demo.project_id
    rita = team(pid)["rita"]
    assert services.project_role(rita, pid) == "reviewer"
    access.require(rita, pid, "review")
    access.require(rita, pid, "see_all")
    for permission in ("train", "import", "export", "manage"):
        with pytest.raises(services.PermissionDenied, match="rita is reviewer on this project"):
            access.require(rita, pid, permission)


def test_only_members_see_a_project_and_owners_see_every_one(demo):
    pid = demo.project_id
    people = team(pid)
    assert services.visible_projects(people["nemo"]) == []
    assert services.project_role(people["nemo"], pid) is None
    with pytest.raises(services.PermissionDenied, match="not a member"):
        access.require(people["nemo"], pid, "judge")
    assert [p.id for p in services.visible_projects(people["ada"])] == [pid]
    assert [p.id for p in services.visible_projects(people["olga"])] == [p.id for p in services.list_projects()]
    for permission in access.PERMISSIONS["owner"]:
        assert services.can(people["olga"], pid, permission)
        assert services.can(None, pid, permission)  # the local operator


# --- command line ---


def test_user_and_member_commands(demo):
    result = runner.invoke(
        cli.app, ["user", "add", "olga", "--role", "owner", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli.app, ["user", "add", "ada", "--role", "annotator"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output  # asked twice, hidden
    assert PASSWORD not in result.output
    assert stored_hash("ada").startswith("$argon2")
    result = runner.invoke(
        cli.app, ["user", "add", "bob", "--role", "annotator", "--email", "bob@lab.org", "--no-password"]
    )
    assert result.exit_code == 0, result.output
    assert services.accounts.authenticate("olga", PASSWORD).role == "owner"

    project = services.get_project(demo.project_id).name
    assert runner.invoke(cli.app, ["member", "add", project, "ada"]).exit_code == 0  # by name
    result = runner.invoke(cli.app, ["member", "add", str(demo.project_id), "bob", "--role", "reviewer"])  # by id
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli.app, ["member", "list", str(demo.project_id), "--json"])
    assert {m["name"]: m["role"] for m in json.loads(result.output)} == {
        "olga": "owner",
        "ada": "annotator",
        "bob": "reviewer",
    }
    result = runner.invoke(cli.app, ["user", "list", "--json"])
    users = {u["name"]: u for u in json.loads(result.output)}
    assert users["ada"]["projects"] == {project: "annotator"} and users["bob"]["email"] == "bob@lab.org"

    assert runner.invoke(cli.app, ["user", "role", "ada", "reviewer"]).exit_code == 0
    assert runner.invoke(cli.app, ["member", "remove", project, "bob"]).exit_code == 0
    assert runner.invoke(cli.app, ["user", "disable", "ada"]).exit_code == 0
    with pytest.raises(LoginError):
        services.accounts.authenticate("ada", PASSWORD)
    assert runner.invoke(cli.app, ["user", "enable", "ada"]).exit_code == 0
    new = "a brand new password"
    assert runner.invoke(cli.app, ["user", "passwd", "ada", "--password-stdin"], input=new + "\n").exit_code == 0
    assert services.accounts.authenticate("ada", new).role == "reviewer"
    result = runner.invoke(cli.app, ["user", "list"])
    assert "ada: reviewer; projects:" in result.output and "bob <bob@lab.org>: annotator" in result.output


def test_commands_fail_in_one_line(demo):
    result = runner.invoke(cli.app, ["member", "add", "no such project", "ada"])
    assert result.exit_code == 1 and "error: no project 'no such project'" in result.output
    result = runner.invoke(cli.app, ["user", "role", "ada", "annotator"])
    assert result.exit_code == 1 and "error: no user named 'ada'" in result.output
    result = runner.invoke(cli.app, ["user", "add", "eve", "--role", "admin", "--password-stdin"], input=PASSWORD)
    assert result.exit_code == 1 and "error: role must be one of" in result.output
    result = runner.invoke(cli.app, ["user", "add", "eve", "--role", "annotator", "--no-password"])
    assert result.exit_code == 1 and "--no-password needs --email" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("address", "auth"), [("0.0.0.0", None), ("127.0.0.1", "on")])
def test_serve_in_team_mode_refuses_to_start_without_an_owner(xil_home, monkeypatch, address, auth):
    def must_not_start(*args, **kwargs):
        raise AssertionError(f"started {args}")

    monkeypatch.setattr(subprocess, "Popen", must_not_start)
    monkeypatch.setattr(services, "seed_demo", must_not_start)
    if auth:
        monkeypatch.setenv("XIL_AUTH", auth)
    else:
        monkeypatch.delenv("XIL_AUTH", raising=False)
    services.accounts.add_user("ada", "annotator", password=PASSWORD)  # not an owner
    result = runner.invoke(cli.app, ["serve", "--address", address])
    assert result.exit_code == 1
    assert "create one: xil user add NAME --role owner" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_serve_in_team_mode_starts_streamlit_with_xil_auth_on(xil_home, monkeypatch):
    started = []

    class Child:
        def __init__(self, command, env):
            started.append((command, env))

        def wait(self, timeout=None):
            return 0

        def poll(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", Child)
    monkeypatch.setattr(services, "seed_demo", lambda: None)
    monkeypatch.delenv("XIL_AUTH", raising=False)
    services.accounts.add_user("olga", "owner", password=PASSWORD)
    result = runner.invoke(cli.app, ["serve", "--address", "0.0.0.0", "--no-worker"])
    assert result.exit_code == 0, result.output
    [(command, env)] = started
    assert command[-2:] == ["--server.address", "0.0.0.0"] and env["XIL_AUTH"] == "on"
    started.clear()
    assert runner.invoke(cli.app, ["serve", "--no-worker"]).exit_code == 0  # loopback: the local studio
    [(command, env)] = started
    assert "XIL_AUTH" not in env


# --- the sign-in every page shares (AppTest) ---


def app(monkeypatch, token: str | None = None) -> AppTest:
    monkeypatch.setenv("XIL_START_WORKER", "0")
    monkeypatch.setenv("XIL_AUTH", "on")
    at = AppTest.from_file(APP, default_timeout=120)
    if token is not None:
        at.session_state["xil_token"] = token
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    [button] = [b for b in at.button if b.label == "Sign in"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def links(at: AppTest) -> set[str]:
    return {link.proto.label for link in at.get("page_link")}


def test_team_mode_asks_for_a_password_and_shows_an_annotator_their_pages(demo, monkeypatch):
    team(demo.project_id)
    at = app(monkeypatch)
    assert [t.label for t in at.text_input] == ["Name", "Password"]
    assert not at.metric and not links(at)  # nothing of the studio before signing in
    sign_in(at, "ada", "a wrong password")
    assert any("wrong name or password" in e.value for e in at.error)
    sign_in(at, "ada", PASSWORD)
    assert any("Signed in as **ada** (annotator on this project)" in m.value for m in at.sidebar.markdown)
    assert at.session_state["annotator"] == "ada"
    assert not [t for t in at.text_input if t.label == "Annotator"]
    assert {"Home", "Annotate", "Models"} <= links(at)
    assert not links(at) & {"Train", "Data", "Export", "Review"}
    at.switch_page("pages/train.py").run()  # a typed URL
    assert any("does not allow you to train" in e.value for e in at.error)
    assert not [b for b in at.button if b.label.startswith("Queue")]

    [sign_out] = [b for b in at.sidebar.button if b.label == "Sign out"]
    sign_out.click().run()
    assert [t.label for t in at.text_input] == ["Name", "Password"]
    assert "xil_token" not in at.session_state


def test_a_reviewer_sees_review_but_not_train_and_an_owner_sees_everything(demo, monkeypatch):
    people = team(demo.project_id)
    reviewer = links(app(monkeypatch, services.accounts.session_token(people["rita"])))
    assert "Train" not in reviewer and "Export" not in reviewer
    if (PROJECT_ROOT / "pages" / "review.py").exists():
        assert "Review" in reviewer
    owner = links(app(monkeypatch, services.accounts.session_token(people["olga"])))
    assert {"Train", "Data", "Export"} <= owner


def test_someone_with_no_project_is_told_to_ask_an_owner(demo, monkeypatch):
    people = team(demo.project_id)
    at = app(monkeypatch, services.accounts.session_token(people["nemo"]))
    assert any("not a member of any project yet" in i.value for i in at.info)
    assert not at.metric and not [s for s in at.sidebar.selectbox if s.label == "Project"]


def test_a_disabled_account_is_signed_out_on_its_next_click(demo, monkeypatch):
    people = team(demo.project_id)
    at = app(monkeypatch, services.accounts.session_token(people["ada"]))
    assert at.metric  # the Home page
    services.accounts.set_active("ada", False)
    at.run()
    assert any("session has ended" in i.value for i in at.info)
    assert [t.label for t in at.text_input] == ["Name", "Password"]


def test_the_local_studio_has_no_sign_in(demo, monkeypatch):
    monkeypatch.delenv("XIL_AUTH", raising=False)
    monkeypatch.setenv("XIL_START_WORKER", "0")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    assert [t.label for t in at.sidebar.text_input] == ["Annotator"]
    assert {"Train", "Data", "Export"} <= links(at)


def signed_in_user(email: str) -> dict:
    """Stands in for ``st.user`` after a single sign-on login."""
    return {"is_logged_in": True, "email": email, "name": "Someone"}


AUTH = {"client_id": "xil", "client_secret": "s", "redirect_uri": "http://localhost:8501/oauth2callback"}


def test_single_sign_on_replaces_the_form_and_matches_accounts_by_e_mail(demo, monkeypatch):
    import streamlit

    services.accounts.add_user("olga", "owner", password=PASSWORD)
    services.accounts.add_user("bob", "annotator", email="Bob@Lab.org")
    services.accounts.add_member(demo.project_id, "bob")
    monkeypatch.setenv("XIL_START_WORKER", "0")
    monkeypatch.setenv("XIL_AUTH", "on")

    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = AUTH
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [b.label for b in at.button] == ["Sign in with single sign-on"]
    assert not at.text_input  # no password form

    monkeypatch.setattr(streamlit, "user", signed_in_user("bob@lab.org"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = AUTH
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Signed in as **bob** (annotator on this project)" in m.value for m in at.sidebar.markdown)

    monkeypatch.setattr(streamlit, "user", signed_in_user("eve@elsewhere.org"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = AUTH
    at.run()
    assert any("No active account has the e-mail address" in e.value for e in at.error)
    assert not at.metric
