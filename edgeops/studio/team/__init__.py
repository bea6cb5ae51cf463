"""The team studio: one shared store of runs, sample sets and files, and its server.

- :mod:`.schema`: the tables (SQLAlchemy), created and upgraded by Alembic (:mod:`.migrations`);
- :mod:`.files`: the content-addressed file store (a folder);
- :mod:`.store`: open a store by URL, publish a bundle atomically and idempotently, read it back;
- :mod:`.publish`: ``edgeops publish`` to a database URL or to a studio over HTTP;
- :mod:`.server`: ``edgeops studio serve``, the team's pages and API;
- :mod:`.uploads`: what an upload may be (size, type by content, names);
- :mod:`.tryit`: runs variants on an uploaded image in a bounded worker process;
- :mod:`.fit`: an image as a model's input; :mod:`.samples_from`: ``ship --samples-from``;
- :mod:`.command`: the ``publish``, ``studio serve`` and ``studio token`` commands.
"""
