"""The database schema version this program creates, migrates to and reads. Kept apart from `store.py`
(which checks it against its list of migrations) so the light read path can check a database's version
without importing SQLAlchemy."""

SCHEMA_VERSION = 8
