-- The schema a version-1 infrasignal created in SQLite (before MIGRATIONS[0]); tests/test_migrations.py
-- upgrades a database made from it.
CREATE TABLE schema_meta (
	"key" VARCHAR NOT NULL,
	value VARCHAR NOT NULL,
	PRIMARY KEY ("key")
);
CREATE TABLE board (
	id INTEGER NOT NULL,
	name VARCHAR NOT NULL,
	company VARCHAR NOT NULL,
	ats VARCHAR NOT NULL,
	token VARCHAR,
	url VARCHAR,
	created_at DATETIME NOT NULL,
	baseline_at DATETIME,
	last_success_at DATETIME,
	last_error_at DATETIME,
	last_error VARCHAR,
	etag VARCHAR,
	last_modified VARCHAR,
	body_hash VARCHAR,
	suspect_since DATETIME,
	suspect_reason VARCHAR,
	PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_board_name ON board (name);
CREATE TABLE sent_report (
	id INTEGER NOT NULL,
	period VARCHAR NOT NULL,
	recipients VARCHAR NOT NULL,
	message_id VARCHAR NOT NULL,
	status VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	last_error VARCHAR,
	created_at DATETIME NOT NULL,
	sent_at DATETIME,
	PRIMARY KEY (id),
	CONSTRAINT uq_sent_report_period_to UNIQUE (period, recipients)
);
CREATE TABLE fetch (
	id INTEGER NOT NULL,
	board_id INTEGER NOT NULL,
	at DATETIME NOT NULL,
	status VARCHAR NOT NULL,
	rule VARCHAR NOT NULL,
	http_status INTEGER,
	error VARCHAR,
	found INTEGER NOT NULL,
	new INTEGER NOT NULL,
	changed INTEGER NOT NULL,
	closed INTEGER NOT NULL,
	reopened INTEGER NOT NULL,
	pages INTEGER NOT NULL,
	requests INTEGER NOT NULL,
	duration FLOAT NOT NULL,
	complete BOOLEAN NOT NULL,
	etag VARCHAR,
	PRIMARY KEY (id),
	FOREIGN KEY(board_id) REFERENCES board (id)
);
CREATE INDEX ix_fetch_board_at ON fetch (board_id, at);
CREATE TABLE posting (
	id INTEGER NOT NULL,
	board_id INTEGER NOT NULL,
	external_id VARCHAR NOT NULL,
	title VARCHAR NOT NULL,
	department VARCHAR NOT NULL,
	team VARCHAR NOT NULL,
	url VARCHAR NOT NULL,
	location VARCHAR NOT NULL,
	description VARCHAR NOT NULL,
	content_hash VARCHAR NOT NULL,
	description_hash VARCHAR NOT NULL,
	list_hash VARCHAR,
	requisition_id VARCHAR,
	remote BOOLEAN,
	posted_at DATETIME,
	first_seen DATETIME NOT NULL,
	last_seen DATETIME NOT NULL,
	closed_at DATETIME,
	status VARCHAR NOT NULL,
	baseline BOOLEAN NOT NULL,
	infra BOOLEAN NOT NULL,
	unresolved_locations BOOLEAN NOT NULL,
	classified_hash VARCHAR,
	PRIMARY KEY (id),
	CONSTRAINT uq_posting_board_external UNIQUE (board_id, external_id),
	FOREIGN KEY(board_id) REFERENCES board (id)
);
CREATE INDEX ix_posting_status_first_seen ON posting (status, first_seen);
CREATE INDEX ix_posting_infra ON posting (infra);
CREATE INDEX ix_posting_board_id ON posting (board_id);
CREATE TABLE posting_version (
	id INTEGER NOT NULL,
	posting_id INTEGER NOT NULL,
	at DATETIME NOT NULL,
	changed VARCHAR NOT NULL,
	title VARCHAR NOT NULL,
	department VARCHAR NOT NULL,
	location VARCHAR NOT NULL,
	description_hash VARCHAR NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(posting_id) REFERENCES posting (id)
);
CREATE INDEX ix_posting_version_posting_id ON posting_version (posting_id);
CREATE TABLE event (
	id INTEGER NOT NULL,
	posting_id INTEGER NOT NULL,
	board_id INTEGER NOT NULL,
	at DATETIME NOT NULL,
	kind VARCHAR NOT NULL,
	detail VARCHAR NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(posting_id) REFERENCES posting (id),
	FOREIGN KEY(board_id) REFERENCES board (id)
);
CREATE INDEX ix_event_board_id ON event (board_id);
CREATE INDEX ix_event_posting_id ON event (posting_id);
CREATE INDEX ix_event_at_kind ON event (at, kind);
CREATE TABLE posting_place (
	id INTEGER NOT NULL,
	posting_id INTEGER NOT NULL,
	city VARCHAR,
	region VARCHAR,
	country VARCHAR,
	remote BOOLEAN NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(posting_id) REFERENCES posting (id)
);
CREATE INDEX ix_place_city ON posting_place (city);
CREATE INDEX ix_posting_place_posting_id ON posting_place (posting_id);
CREATE INDEX ix_place_country ON posting_place (country);
CREATE TABLE posting_tag (
	id INTEGER NOT NULL,
	posting_id INTEGER NOT NULL,
	kind VARCHAR NOT NULL,
	value VARCHAR NOT NULL,
	evidence VARCHAR NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(posting_id) REFERENCES posting (id)
);
CREATE INDEX ix_tag_kind_value ON posting_tag (kind, value);
CREATE INDEX ix_posting_tag_posting_id ON posting_tag (posting_id);
