// oidc-provider's storage, in memory. Logto keeps these records in Postgres; the adapter that
// ships with oidc-provider is an LRU capped at 1000 entries that silently drops sessions and
// tokens under load. This one keeps every record until it expires.

import { errors } from 'oidc-provider';

const entries = new Map(); // `${model}:${id}` → { payload, expiresAt }
const grantMembers = new Map(); // `${model}:${grantId}` → keys of the entries issued under it
const aliases = new Map(); // `${model}:${field}:${value}` → key, for findByUid and findByUserCode

// The payload fields that records are also looked up by.
const LOOKUP_FIELDS = ['uid', 'userCode'];

export default class MemoryAdapter {
  #model;

  /** oidc-provider makes one adapter per model: Session, Interaction, Grant, AccessToken, … */
  constructor(model) {
    this.#model = model;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.#key(id);
    const previous = entries.get(key)?.payload;
    for (const field of LOOKUP_FIELDS) {
      if (previous?.[field]) aliases.delete(this.#key(`${field}:${previous[field]}`));
      if (payload[field]) aliases.set(this.#key(`${field}:${payload[field]}`), key);
    }
    if (payload.grantId) {
      const grantKey = this.#key(payload.grantId);
      if (!grantMembers.has(grantKey)) grantMembers.set(grantKey, new Set());
      grantMembers.get(grantKey).add(key);
    }
    entries.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
  }

  async find(id) {
    // The clients are static, so oidc-provider asks storage only for an unknown one. Logto's
    // storage answers that with 400 invalid_client "invalid client <id>", where oidc-provider
    // would answer 401 "client authentication failed".
    if (this.#model === 'Client') throw new errors.InvalidClient(`invalid client ${id}`);
    return read(this.#key(id));
  }

  async findByUid(uid) {
    return read(aliases.get(this.#key(`uid:${uid}`)));
  }

  async findByUserCode(userCode) {
    return read(aliases.get(this.#key(`userCode:${userCode}`)));
  }

  /** Marks a code or refresh token as used; presenting it again then revokes its grant. */
  async consume(id) {
    const payload = read(this.#key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    entries.delete(this.#key(id));
  }

  async revokeByGrantId(grantId) {
    const grantKey = this.#key(grantId);
    for (const key of grantMembers.get(grantKey) ?? []) entries.delete(key);
    grantMembers.delete(grantKey);
  }

  #key(suffix) {
    return `${this.#model}:${suffix}`;
  }
}

function read(key) {
  const entry = entries.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt <= Date.now()) {
    entries.delete(key);
    return undefined;
  }
  return entry.payload;
}

// Expired records are dropped when read; this also drops the ones nobody reads again, and
// the index entries that point at records gone by now.
function sweep() {
  const now = Date.now();
  for (const [key, { expiresAt }] of entries) if (expiresAt <= now) entries.delete(key);
  for (const [alias, key] of aliases) if (!entries.has(key)) aliases.delete(alias);
  for (const [grantKey, keys] of grantMembers) {
    for (const key of keys) if (!entries.has(key)) keys.delete(key);
    if (keys.size === 0) grantMembers.delete(grantKey);
  }
}

setInterval(sweep, 60_000).unref();
