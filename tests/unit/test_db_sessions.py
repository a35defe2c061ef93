"""Between requests the hub's session gives its connection back, unless it holds unsaved work.

A real SQLAlchemy session on SQLite, made as JupyterHub makes its own (orm.new_session_factory);
the Postgres restart itself is tests/e2e/test_faults.py's.
"""

from __future__ import annotations

import pytest
from jupyterhub import orm
from jupyterhub.handlers.base import BaseHandler
from sqlalchemy import inspect

from pyiron_hub_config.db_sessions import install, release_idle_connection


@pytest.fixture
def db(tmp_path):
    session = orm.new_session_factory(f"sqlite:///{tmp_path}/hub.sqlite")()
    session.add(orm.User(name="alice"))
    session.commit()
    yield session
    session.close()


def test_a_read_leaves_a_transaction_that_is_then_ended(db):
    alice = db.query(orm.User).filter_by(name="alice").one()
    assert db.in_transaction()  # what JupyterHub leaves behind after a read
    assert release_idle_connection(db) is True
    assert not db.in_transaction()
    assert "name" not in inspect(alice).expired_attributes  # still loaded: nothing to read again
    assert inspect(alice).persistent


def test_unsaved_changes_keep_their_transaction(db):
    db.query(orm.User).filter_by(name="alice").one().name = "alicia"
    assert release_idle_connection(db) is False and db.in_transaction()
    db.rollback()


def test_flushed_but_uncommitted_changes_keep_their_transaction(db):
    db.add(orm.User(name="bob"))
    db.flush()  # as a query's autoflush does, in the middle of some request's work
    assert release_idle_connection(db) is False and db.in_transaction()
    db.commit()
    db.query(orm.User).all()
    assert release_idle_connection(db) is True  # the next transaction is clean again


def test_nothing_to_do_without_a_transaction(db):
    assert release_idle_connection(db) is False


def test_installed_once_around_jupyterhubs_own_methods():
    install()
    prepare = BaseHandler.prepare
    install()
    assert BaseHandler.prepare is prepare and prepare.__name__ == "prepare_with_a_live_connection"
