-- The tables of Logto's database that deploy/provision touches, in their Logto 1.x shape: the
-- same column names, types, NOT NULLs, defaults, keys, check constraints and enum types as
-- Logto's schema (packages/schemas: the Tenants model, tables/applications.sql, users.sql,
-- resources.sql, scopes.sql, roles.sql, roles_scopes.sql, users_roles.sql,
-- applications_roles.sql, application_secrets.sql; ids in the seed's default varchar(21)
-- format), without the indexes, triggers and row-level security provisioning does not meet as
-- the database superuser. Logto's seed creates them and the `default` tenant in one
-- transaction.

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

create function check_application_type(
  application_id varchar(21),
  variadic target_type application_type[]
) returns boolean as
$$ begin
  return (select type from applications where id = application_id) = any(target_type);
end; $$ language plpgsql set search_path = public;

create table application_secrets (
  tenant_id varchar(21) not null
    references tenants (id) on update cascade on delete cascade,
  application_id varchar(21) not null
    references applications (id) on update cascade on delete cascade,
  name varchar(256) not null,
  value varchar(64) not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  primary key (tenant_id, application_id, name),
  constraint application_type
    check (check_application_type(application_id, 'MachineToMachine', 'Traditional', 'Protected'))
);

create table resources (
  tenant_id varchar(21) not null
    references tenants (id) on update cascade on delete cascade,
  id varchar(21) not null,
  name text not null,
  indicator text not null,
  is_default boolean not null default (false),
  access_token_ttl bigint not null default(3600),
  primary key (id),
  constraint resources__indicator
    unique (tenant_id, indicator)
);

create table scopes (
  tenant_id varchar(21) not null
    references tenants (id) on update cascade on delete cascade,
  id varchar(21) not null,
  resource_id varchar(21) not null
    references resources (id) on update cascade on delete cascade,
  name varchar(256) not null,
  description text,
  created_at timestamptz not null default(now()),
  primary key (id),
  constraint scopes__resource_id_name
    unique (tenant_id, resource_id, name)
);

create type role_type as enum ('User', 'MachineToMachine');

create table roles (
  tenant_id varchar(21) not null
    references tenants (id) on update cascade on delete cascade,
  id varchar(21) not null,
  name varchar(128) not null,
  description varchar(128) not null,
  type role_type not null default 'User',
  is_default boolean not null default false,
  primary key (id),
  constraint roles__name
    unique (tenant_id, name)
);

create function public.check_role_type(role_id varchar(21), target_type role_type) returns boolean as
$$ begin
  return (select type from public.roles where id = role_id) = target_type;
end; $$ language plpgsql;

create table roles_scopes (
  tenant_id varchar(21) not null
    references tenants (id) on update cascade on delete cascade,
  id varchar(21) not null,
  role_id varchar(21) not null
    references roles (id) on update cascade on delete cascade,
  scope_id varchar(21) not null
    references scopes (id) on update cascade on delete cascade,
  primary key (id),
  constraint roles_scopes__role_id_scope_id
    unique (tenant_id, role_id, scope_id)
);

create table users_roles (
  tenant_id varchar(21) not null
    references tenants (id) on update cascade on delete cascade,
  id varchar(21) not null,
  user_id varchar(21) not null
    references users (id) on update cascade on delete cascade,
  role_id varchar(21) not null
    references roles (id) on update cascade on delete cascade,
  primary key (id),
  constraint users_roles__user_id_role_id
    unique (tenant_id, user_id, role_id)
);

create table applications_roles (
  tenant_id varchar(21) not null
    references tenants (id) on update cascade on delete cascade,
  id varchar(21) not null,
  application_id varchar(21) not null
    references applications (id) on update cascade on delete cascade,
  role_id varchar(21) not null
    references roles (id) on update cascade on delete cascade,
  primary key (id),
  constraint applications_roles__application_id_role_id
    unique (tenant_id, application_id, role_id),
  constraint applications_roles__role_type
    check (public.check_role_type(role_id, 'MachineToMachine'))
);
