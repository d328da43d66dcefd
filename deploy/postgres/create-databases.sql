-- Run once by the postgres image on first start: each service owns its own database.
CREATE DATABASE scheduling OWNER attune;
CREATE DATABASE feedback OWNER attune;
CREATE DATABASE notifications OWNER attune;
CREATE DATABASE keycloak OWNER attune;
