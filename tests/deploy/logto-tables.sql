-- The three tables of Logto's database that deploy/provision touches, in their Logto 1.x
-- shape: the same column names, types, NOT NULLs, defaults, keys and enum types as Logto's
-- schema (packages/schemas: the Tenants model, tables/applications.sql, tables/users.sql),
-- without the indexes, triggers and row-level security provisioning does not meet as the
-- database superuser. Logto's seed creates them and the `default` tenant in one transaction.

create table tenants (
  id varchar(21) not null,
  db_user varchar(128),
  db_user_password varchar(128),
  name varchar(128) not null default 'My Project',
  tag varchar(64) not null default 'development',
  created_at timestamptz not null default (now()),
  is_suspended boolean not null default false,
  primary key (id),
  constraint tenants__db_user unique (db_user)
);

create type application_type as enum
  ('Native', 'SPA', 'Traditional', 'MachineToMachine', 'Protected');

create table applications (
  tenant_id varchar(21) not null
    references tenants (id) on update cascade on delete cascade,
  id varchar(21) not null,
  name varchar(256) not null,
  secret varchar(64) not null,
  description text,
  type application_type not null,
  oidc_client_metadata jsonb not null,
  custom_client_metadata jsonb not null default '{}'::jsonb,
  protected_app_metadata jsonb,
  is_third_party boolean not null default false,
  created_at timestamptz not null default (now()),
  primary key (id)
);

create type users_password_encryption_method as enum
  ('Argon2i', 'Argon2id', 'Argon2d', 'SHA1', 'SHA256', 'MD5', 'Bcrypt');

create table users (
  tenant_id varchar(21) not null
    references tenants (id) on update cascade on delete cascade,
  id varchar(12) not null,
  username varchar(128),
  primary_email varchar(128),
  primary_phone varchar(128),
  password_encrypted varchar(128),
  password_encryption_method users_password_encryption_method,
  name varchar(128),
  avatar varchar(2048),
  profile jsonb not null default '{}'::jsonb,
  application_id varchar(21),
  identities jsonb not null default '{}'::jsonb,
  custom_data jsonb not null default '{}'::jsonb,
  logto_config jsonb not null default '{}'::jsonb,
  mfa_verifications jsonb not null default '[]'::jsonb,
  is_suspended boolean not null default false,
  last_sign_in_at timestamptz,
  created_at timestamptz not null default (now()),
  updated_at timestamptz not null default (now()),
  primary key (id),
  constraint users__username unique (tenant_id, username),
  constraint users__primary_email unique (tenant_id, primary_email),
  constraint users__primary_phone unique (tenant_id, primary_phone)
);
