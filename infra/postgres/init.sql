-- One database per service: no service can read another's tables.
CREATE DATABASE envgrid_complaints;
CREATE DATABASE envgrid_dispatch;
CREATE DATABASE envgrid_notify;
CREATE DATABASE envgrid_ranking;
CREATE DATABASE envgrid_gateway;
