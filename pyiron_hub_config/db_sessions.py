"""The hub's database connection goes back to the pool between requests, so that the first
request after a Postgres restart works instead of answering HTTP 500.

JupyterHub (6.1) keeps one ORM session for the whole process. A request that only reads
leaves its transaction open, so the session keeps its connection checked out from the pool
for as long as nothing commits: after a restart of Postgres, the next request that touches
the database meets that broken connection. JupyterHub does check connections as they leave
the pool (orm.register_ping_connection, SQLAlchemy's "pessimistic disconnect handling"), but
a connection that is never returned is never checked again.

So at the start and end of every request the session's transaction is ended when it holds
nothing unsaved: its connection returns to the pool, and the next query takes one through
JupyterHub's ping, which replaces a broken one. Ending it with a commit of nothing, since
JupyterHub makes its session with expire_on_commit=False: its loaded objects stay loaded (a
rollback would expire them all, to be read again). A session with unsaved or flushed but
uncommitted changes is left alone: some request is still working on them.

This belongs upstream (jupyterhub/jupyterhub: handlers/base.py, BaseHandler.prepare and
on_finish); it is carried here, as a patch of those two methods, until JupyterHub does it.
The cost: one ping (SELECT 1) and one COMMIT per request that reads the database
(benchmarks/README.md, "Load").
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction
from tornado.log import app_log as log  # JupyterHub's handlers' log

# Set in session.info between a flush and the end of its transaction.
FLUSHED = "pyiron_hub_flushed"


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _flush_context) -> None:
    session.info[FLUSHED] = True


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction, not a savepoint
        session.info.pop(FLUSHED, None)


def release_idle_connection(db: Session) -> bool:
    """End db's transaction if it holds nothing unsaved; True if it did (its connection is back in the pool)."""
    if not db.in_transaction() or db.info.get(FLUSHED) or db.new or db.dirty or db.deleted:
        return False
    try:
        db.commit()  # nothing to write: ends the transaction
    except SQLAlchemyError as err:
        # The connection broke while it sat in the session (Postgres restarted): the rollback
        # drops it, and the next query takes a new one.
        log.warning("Database connection lost between requests, replaced: %s", err)
        db.rollback()
    return True


def install() -> None:
    """Wrap JupyterHub's BaseHandler.prepare and on_finish (once per process)."""
    from jupyterhub.handlers.base import BaseHandler

    if getattr(BaseHandler, "_releases_idle_connection", False):
        return
    prepare, on_finish = BaseHandler.prepare, BaseHandler.on_finish

    async def prepare_with_a_live_connection(self):
        # A transaction left open by the hub's background work (activity, polls) ends here too.
        release_idle_connection(self.db)
        return await prepare(self)

    def on_finish_releasing_the_connection(self):
        try:
            release_idle_connection(self.db)
        finally:
            on_finish(self)

    BaseHandler.prepare = prepare_with_a_live_connection
    BaseHandler.on_finish = on_finish_releasing_the_connection
    BaseHandler._releases_idle_connection = True
