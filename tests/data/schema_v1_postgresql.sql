-- The schema a version-1 infrasignal created in PostgreSQL (before MIGRATIONS[0]); tests/test_postgres.py
-- upgrades a schema made from it.
CREATE TABLE board (
	id SERIAL NOT NULL,
	name VARCHAR NOT NULL,
	company VARCHAR NOT NULL,
	ats VARCHAR NOT NULL,
	token VARCHAR,
	url VARCHAR,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	baseline_at TIMESTAMP WITHOUT TIME ZONE,
	last_success_at TIMESTAMP WITHOUT TIME ZONE,
	last_error_at TIMESTAMP WITHOUT TIME ZONE,
	last_error VARCHAR,
	etag VARCHAR,
	last_modified VARCHAR,
	body_hash VARCHAR,
	suspect_since TIMESTAMP WITHOUT TIME ZONE,
	suspect_reason VARCHAR,
	PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_board_name ON board (name);
CREATE TABLE schema_meta (
	key VARCHAR NOT NULL,
	value VARCHAR NOT NULL,
	PRIMARY KEY (key)
);
CREATE TABLE sent_report (
	id SERIAL NOT NULL,
	period VARCHAR NOT NULL,
	recipients VARCHAR NOT NULL,
	message_id VARCHAR NOT NULL,
	status VARCHAR NOT NULL,
	attempts INTEGER NOT NULL,
	last_error VARCHAR,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	sent_at TIMESTAMP WITHOUT TIME ZONE,
	PRIMARY KEY (id),
	CONSTRAINT uq_sent_report_period_to UNIQUE (period, recipients)
);
CREATE TABLE "fetch" (
	id SERIAL NOT NULL,
	board_id INTEGER NOT NULL,
	at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	status VARCHAR NOT NULL,
	rule VARCHAR NOT NULL,
	http_status INTEGER,
	error VARCHAR,
	found INTEGER NOT NULL,
	"new" INTEGER NOT NULL,
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
CREATE INDEX ix_fetch_board_at ON "fetch" (board_id, at);
CREATE TABLE posting (
	id SERIAL NOT NULL,
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
	posted_at TIMESTAMP WITHOUT TIME ZONE,
	first_seen TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	last_seen TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	closed_at TIMESTAMP WITHOUT TIME ZONE,
	status VARCHAR NOT NULL,
	baseline BOOLEAN NOT NULL,
	infra BOOLEAN NOT NULL,
	unresolved_locations BOOLEAN NOT NULL,
	classified_hash VARCHAR,
	PRIMARY KEY (id),
	CONSTRAINT uq_posting_board_external UNIQUE (board_id, external_id),
	FOREIGN KEY(board_id) REFERENCES board (id)
);
CREATE INDEX ix_posting_board_id ON posting (board_id);
CREATE INDEX ix_posting_infra ON posting (infra);
CREATE INDEX ix_posting_status_first_seen ON posting (status, first_seen);
CREATE TABLE event (
	id SERIAL NOT NULL,
	posting_id INTEGER NOT NULL,
	board_id INTEGER NOT NULL,
	at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	kind VARCHAR NOT NULL,
	detail VARCHAR NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(posting_id) REFERENCES posting (id),
	FOREIGN KEY(board_id) REFERENCES board (id)
);
CREATE INDEX ix_event_at_kind ON event (at, kind);
CREATE INDEX ix_event_board_id ON event (board_id);
CREATE INDEX ix_event_posting_id ON event (posting_id);
CREATE TABLE posting_place (
	id SERIAL NOT NULL,
	posting_id INTEGER NOT NULL,
	city VARCHAR,
	region VARCHAR,
	country VARCHAR,
	remote BOOLEAN NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(posting_id) REFERENCES posting (id)
);
CREATE INDEX ix_place_city ON posting_place (city);
CREATE INDEX ix_place_country ON posting_place (country);
CREATE INDEX ix_posting_place_posting_id ON posting_place (posting_id);
CREATE TABLE posting_tag (
	id SERIAL NOT NULL,
	posting_id INTEGER NOT NULL,
	kind VARCHAR NOT NULL,
	value VARCHAR NOT NULL,
	evidence VARCHAR NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(posting_id) REFERENCES posting (id)
);
CREATE INDEX ix_posting_tag_posting_id ON posting_tag (posting_id);
CREATE INDEX ix_tag_kind_value ON posting_tag (kind, value);
CREATE TABLE posting_version (
	id SERIAL NOT NULL,
	posting_id INTEGER NOT NULL,
	at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	changed VARCHAR NOT NULL,
	title VARCHAR NOT NULL,
	department VARCHAR NOT NULL,
	location VARCHAR NOT NULL,
	description_hash VARCHAR NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(posting_id) REFERENCES posting (id)
);
CREATE INDEX ix_posting_version_posting_id ON posting_version (posting_id);
